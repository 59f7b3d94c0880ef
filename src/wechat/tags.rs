//! User tags: `tags/create`, `tags/get`, `tags/members/batchtagging`.
//!
//! An account has at most 100 tags of at most 30 characters; a user carries at most 20.
//! Creating a name that exists answers 45157, so the caller looks the id up instead.
//! <https://developers.weixin.qq.com/doc/offiaccount/User_Management/User_Tag_Management.html>

use serde::{Deserialize, Serialize};

use super::api::WechatError;
use super::client::WechatClient;

/// `tags/create` for a name the account has already.
pub const TAG_EXISTS: i64 = 45157;
/// The longest tag name WeChat takes, in characters.
pub const MAX_TAG_CHARS: usize = 30;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub id: i64,
    pub name: String,
}

#[derive(Deserialize)]
struct Created {
    tag: Tag,
}

#[derive(Deserialize)]
struct Listed {
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Done {}

#[derive(Serialize)]
struct NewTag<'a> {
    tag: Name<'a>,
}

#[derive(Serialize)]
struct Name<'a> {
    name: &'a str,
}

#[derive(Serialize)]
struct Tagging<'a> {
    openid_list: &'a [&'a str],
    tagid: i64,
}

impl WechatClient {
    /// Creates a tag; [`TAG_EXISTS`] when the name is taken.
    pub async fn create_tag(&self, name: &str) -> Result<Tag, WechatError> {
        let body = NewTag { tag: Name { name } };
        let created: Created = self.post("/cgi-bin/tags/create", &body).await?;
        Ok(created.tag)
    }

    /// Every tag of the account.
    pub async fn tags(&self) -> Result<Vec<Tag>, WechatError> {
        let listed: Listed = self.get("/cgi-bin/tags/get", &[]).await?;
        Ok(listed.tags)
    }

    /// Puts the tag on up to 50 users.
    pub async fn tag_users(&self, tag_id: i64, openids: &[&str]) -> Result<(), WechatError> {
        let body = Tagging {
            openid_list: openids,
            tagid: tag_id,
        };
        self.post::<_, Done>("/cgi-bin/tags/members/batchtagging", &body)
            .await
            .map(|_| ())
    }
}
