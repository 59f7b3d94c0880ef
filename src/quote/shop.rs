//! The shop's identity: its name, logo, phone, address and booking page, as the
//! shopper sees them on the order and quote pages, in page titles and share cards,
//! and as the console's header shows them. Kept as one JSON setting, read through a
//! short cache (instances pick up a change within seconds).

use std::sync::Arc;
use std::time::Duration;

use entity::setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, Set};
use serde::{Deserialize, Serialize};

use crate::AppError;
use crate::fresh::Fresh;

const SETTING_KEY: &str = "shop";

/// What the owner says of the shop. Empty strings are "not given".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Shop {
    /// 1–40 characters: "好家装修".
    pub name: String,
    /// An http(s) address of a square logo, or empty.
    #[serde(default)]
    pub logo_url: String,
    /// Digits, spaces, `+`, `-`, `,` (for an extension); empty when not given.
    #[serde(default)]
    pub phone: String,
    #[serde(default)]
    pub address: String,
    /// Where "预约上门" leads: an http(s) address, or none.
    #[serde(default)]
    pub booking_url: Option<String>,
}

impl Shop {
    /// Trims every field and checks it; the refusal names the field, in Chinese.
    pub fn checked(mut self) -> Result<Shop, AppError> {
        self.name = self.name.trim().to_owned();
        self.logo_url = self.logo_url.trim().to_owned();
        self.phone = self.phone.trim().to_owned();
        self.address = self.address.trim().to_owned();
        self.booking_url = self
            .booking_url
            .map(|u| u.trim().to_owned())
            .filter(|u| !u.is_empty());
        let chars = |s: &str| s.chars().count();
        if !(1..=40).contains(&chars(&self.name)) || self.name.chars().any(char::is_control) {
            return Err(AppError::bad_field("name", "店铺名称须为 1 到 40 个字符"));
        }
        if !self.logo_url.is_empty() && !is_web_address(&self.logo_url) {
            return Err(AppError::bad_field(
                "logo_url",
                "标志图片须为 http:// 或 https:// 开头的网址",
            ));
        }
        let phone_ok = chars(&self.phone) <= 20
            && self
                .phone
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '+' | '-' | ','));
        if !phone_ok {
            return Err(AppError::bad_field(
                "phone",
                "电话只能包含数字、空格、+、- 和 ,（分机），最多 20 个字符",
            ));
        }
        if chars(&self.address) > 100 || self.address.chars().any(char::is_control) {
            return Err(AppError::bad_field("address", "地址最多 100 个字符"));
        }
        if let Some(url) = &self.booking_url
            && !is_web_address(url)
        {
            return Err(AppError::bad_field(
                "booking_url",
                "预约页面须为 http:// 或 https:// 开头的网址",
            ));
        }
        Ok(self)
    }

    /// The phone as a `tel:` link target: its digits and `+` only, `,` for a pause.
    pub fn tel(&self) -> String {
        self.phone
            .chars()
            .filter(|c| c.is_ascii_digit() || matches!(c, '+' | ','))
            .collect()
    }
}

fn is_web_address(text: &str) -> bool {
    url::Url::parse(text)
        .map(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .unwrap_or(false)
}

/// The shop as stored, through a short cache.
#[derive(Clone)]
pub struct Shops {
    db: DatabaseConnection,
    cache: Arc<Fresh<Arc<Option<Shop>>, DbErr>>,
}

impl Shops {
    pub fn new(db: DatabaseConnection) -> Self {
        Shops {
            db,
            cache: Arc::new(Fresh::new(|_| Duration::from_secs(2))),
        }
    }

    /// The shop, or `None` before the owner has said.
    pub async fn current(&self) -> Result<Arc<Option<Shop>>, DbErr> {
        let read = || async {
            let stored = setting::Entity::find_by_id(SETTING_KEY.to_owned())
                .one(&self.db)
                .await?;
            Ok::<_, DbErr>(Arc::new(
                stored.and_then(|s| serde_json::from_str(&s.value).ok()),
            ))
        };
        self.cache.get_or_load(read).await
    }

    pub async fn set(&self, shop: Shop) -> Result<Shop, AppError> {
        let shop = shop.checked()?;
        let value = serde_json::to_string(&shop).map_err(|e| AppError::Internal(e.into()))?;
        setting::Entity::insert(setting::ActiveModel {
            key: Set(SETTING_KEY.into()),
            value: Set(value),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        self.cache.forget();
        Ok(shop)
    }

    /// Gives the sandbox's demo a shop to show, unless the owner has set one.
    pub async fn ensure_demo(&self) -> Result<(), AppError> {
        if self.current().await?.is_none() {
            self.set(Shop {
                name: "好家装修（演示）".into(),
                phone: "400-800-1234".into(),
                address: "上海市徐汇区示例路 88 号".into(),
                booking_url: None,
                logo_url: String::new(),
            })
            .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop(name: &str) -> Shop {
        Shop {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_shop_is_checked_field_by_field() {
        let ok = Shop {
            phone: " 021-6400 1234,8 ".into(),
            booking_url: Some(" ".into()),
            ..shop(" 好家装修 ")
        }
        .checked()
        .unwrap();
        assert_eq!(ok.name, "好家装修");
        assert_eq!(ok.booking_url, None);
        assert_eq!(ok.tel(), "02164001234,8");
        for (bad, field) in [
            (shop(""), "name"),
            (shop(&"店".repeat(41)), "name"),
            (
                Shop {
                    logo_url: "javascript:alert(1)".into(),
                    ..shop("a")
                },
                "logo_url",
            ),
            (
                Shop {
                    phone: "call me".into(),
                    ..shop("a")
                },
                "phone",
            ),
            (
                Shop {
                    booking_url: Some("ftp://x".into()),
                    ..shop("a")
                },
                "booking_url",
            ),
            (
                Shop {
                    address: "路".repeat(101),
                    ..shop("a")
                },
                "address",
            ),
        ] {
            match bad.checked() {
                Err(AppError::BadRequest {
                    field: Some(f),
                    reason,
                }) => {
                    assert_eq!(f, field);
                    assert!(!reason.is_ascii(), "{reason}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
