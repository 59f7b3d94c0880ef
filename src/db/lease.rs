//! Leases: a named lock in the database with an expiry, so that of several instances
//! exactly one does a thing (creates an order's QR code, say) while the others wait,
//! and a holder that dies lets go when its lease runs out.

use entity::lease;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter, Set};

/// Takes the lease `name` for `duration_ms` if nobody holds it. The conditional update
/// is atomic, so of several instances exactly one wins.
pub async fn take(db: &DatabaseConnection, name: &str, duration_ms: i64) -> Result<bool, DbErr> {
    let now = crate::now_ms();
    let row = lease::ActiveModel {
        name: Set(name.to_owned()),
        until_ms: Set(0),
    };
    match lease::Entity::insert(row)
        .on_conflict(
            OnConflict::column(lease::Column::Name)
                .do_nothing_on([lease::Column::Name])
                .to_owned(),
        )
        .exec_without_returning(db)
        .await
    {
        Ok(_) | Err(DbErr::RecordNotInserted) => {}
        Err(e) => return Err(e),
    }
    let taken = lease::Entity::update_many()
        .col_expr(lease::Column::UntilMs, Expr::value(now + duration_ms))
        .filter(lease::Column::Name.eq(name))
        .filter(lease::Column::UntilMs.lt(now))
        .exec(db)
        .await?;
    Ok(taken.rows_affected == 1)
}

/// Gives a lease back early.
pub async fn release(db: &DatabaseConnection, name: &str) -> Result<(), DbErr> {
    lease::Entity::delete_by_id(name.to_owned())
        .exec(db)
        .await
        .map(|_| ())
}
