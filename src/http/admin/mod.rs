//! The site owner's console: its pages (`/admin`, server-rendered) and its JSON API
//! (`/api/admin/*`), both behind [`auth::Admin`].

pub mod api;
pub mod auth;
pub mod pages;
pub mod sessions;
