//! Schema migrations, run by `scanquote migrate` and at the start of `scanquote serve`.
pub use sea_orm_migration::prelude::*;

mod m20261122_000001_create_tables;
mod m20261122_000002_scene_replies;
mod m20261122_000003_leases;
mod m20261122_000004_delivery_claims;
mod m20261122_000005_oauth_states;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_create_tables::Migration),
            Box::new(m20261122_000002_scene_replies::Migration),
            Box::new(m20261122_000003_leases::Migration),
            Box::new(m20261122_000004_delivery_claims::Migration),
            Box::new(m20261122_000005_oauth_states::Migration),
        ]
    }
}
