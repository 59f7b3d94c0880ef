//! The template in force: the newest stored version, compiled, kept for a second at
//! a time, and the shoppers' cards rendered from it.

use std::sync::Arc;
use std::time::Duration;

use entity::template;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, DbErr, EntityTrait, PaginatorTrait, QueryOrder, Set,
};

use super::for_shopper::Renders;
use super::{Compiled, DEFAULT_DESCRIPTION, DEFAULT_LINK, DEFAULT_PIC_URL, DEFAULT_TITLE};
use crate::fresh::Fresh;
use crate::{AppError, now_ms};

/// The template in force, compiled, for a second at most (this instance drops it on a
/// save; other instances pick a new version up within that second).
#[derive(Clone)]
pub struct Cards {
    db: DatabaseConnection,
    /// `None` inside: no template is stored yet.
    in_force: Arc<Fresh<Option<Arc<Compiled>>, Arc<AppError>>>,
    renders: Renders,
}

impl Cards {
    pub fn new(db: DatabaseConnection) -> Self {
        Cards {
            db,
            in_force: Arc::new(Fresh::new(|_| Duration::from_secs(1))),
            renders: Renders::default(),
        }
    }

    /// Shoppers' cards, with what every shopper of an order gets alike rendered once
    /// (see [`for_shopper`](super::for_shopper)).
    pub fn renders(&self) -> &Renders {
        &self.renders
    }

    /// Stores the default template if there is none yet.
    pub async fn ensure_default(&self) -> Result<(), DbErr> {
        if template::Entity::find().count(&self.db).await? == 0 {
            template::ActiveModel {
                title: Set(DEFAULT_TITLE.into()),
                description: Set(DEFAULT_DESCRIPTION.into()),
                pic_url: Set(DEFAULT_PIC_URL.into()),
                link: Set(DEFAULT_LINK.into()),
                created_at_ms: Set(now_ms()),
                origin: Set(Some("default".into())),
                ..Default::default()
            }
            .insert(&self.db)
            .await?;
        }
        Ok(())
    }

    /// The template in force, compiled. A stored version that does not compile (it was
    /// checked when saved) is an error naming why. When the cached one runs out, one
    /// caller reads and compiles the template and the others wait for it, rather than
    /// every send under way doing it at once.
    pub async fn in_force(&self) -> Result<Option<Arc<Compiled>>, AppError> {
        let load = || async {
            let Some(t) = newest(&self.db).await? else {
                return Ok(None);
            };
            let compiled = Compiled::new(&t)
                .map_err(|e| AppError::Internal(anyhow::anyhow!("template {}: {e}", t.id)))?;
            Ok::<_, AppError>(Some(Arc::new(compiled)))
        };
        self.in_force.get_or_load_app(load).await
    }

    /// Drops this instance's compiled template, after a save.
    pub fn forget(&self) {
        self.in_force.forget();
    }
}

/// The newest stored version: the one in force.
async fn newest(db: &DatabaseConnection) -> Result<Option<template::Model>, DbErr> {
    template::Entity::find()
        .order_by_desc(template::Column::Id)
        .one(db)
        .await
}
