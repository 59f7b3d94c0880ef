//! End-to-end tests: the service on a random port with a fresh database per test (SQLite
//! always; MariaDB too when `TEST_MYSQL_URL` is set), the built-in sandbox or a recording
//! stand-in in place of WeChat, and real HTTP in between.

mod stand_in;
mod support;

mod backup;
mod browser;
mod callback;
mod channel_codes;
mod chaos;
mod cli;
mod connections;
mod console;
mod delivery;
mod deploy;
mod doctor;
mod embed;
mod guarantee;
mod hardening;
mod independent_client;
mod live_wechat;
mod oauth;
mod openapi;
mod orders;
mod pages;
mod qrcodes;
mod reliability;
mod security;
mod shutdown;
mod strictness;
mod webhooks;
mod words;
