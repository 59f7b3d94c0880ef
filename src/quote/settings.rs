//! The site owner's settings. For now one: how the quote card reaches the shopper, a
//! customer-service message from the outbox (the default), or a passive news reply in
//! the callback's own response (no token, no customer-service quota, but no retry
//! either: if WeChat does not get the answer in 5 s, its retry gets the same reply).

use std::sync::Arc;
use std::time::Duration;

use entity::setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::fresh::Fresh;

const SETTING_KEY: &str = "delivery_mode";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMode {
    CustomerService,
    PassiveReply,
}

/// The mode, read through a short cache: instances pick up a change within seconds.
#[derive(Clone)]
pub struct DeliveryModes {
    db: DatabaseConnection,
    cache: Arc<Fresh<DeliveryMode, DbErr>>,
}

impl DeliveryModes {
    pub fn new(db: DatabaseConnection) -> Self {
        DeliveryModes {
            db,
            cache: Arc::new(Fresh::new(|_| Duration::from_secs(2))),
        }
    }

    /// The mode in force. When the cached one runs out, one caller reads it and the
    /// others wait for that read instead of each making its own.
    pub async fn current(&self) -> Result<DeliveryMode, DbErr> {
        let read = || async {
            let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
                .one(&self.db)
                .await?;
            Ok::<_, DbErr>(match stored.as_ref().map(|s| s.value.as_str()) {
                Some("passive_reply") => DeliveryMode::PassiveReply,
                _ => DeliveryMode::CustomerService,
            })
        };
        self.cache.get_or_load(read).await
    }

    pub async fn set(&self, mode: DeliveryMode) -> Result<(), DbErr> {
        let value = match mode {
            DeliveryMode::CustomerService => "customer_service",
            DeliveryMode::PassiveReply => "passive_reply",
        };
        setting::Entity::insert(setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(value.into()),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        self.cache.forget();
        Ok(())
    }
}
