#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(
    missing_docs,
    missing_debug_implementations,
    unreachable_pub,
    rust_2018_idioms
)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod access;
mod body;
mod client_key;
pub mod config;
pub mod error;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod extract;
pub mod guard;
pub mod headers;
pub mod hook;
mod keys;
pub mod layer;
mod pages;
mod paths;
mod pending;
mod provider;
mod redirect;
mod refresh;
mod routes;
mod seal;
pub mod session;
mod state;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod user;
mod util;

pub use body::PageBody;
pub use client_key::{ClientKey, KeyError};
pub use config::{AuthConfig, AuthConfigBuilder, ConfigError, ProviderConfig, Secret};
pub use error::LoginError;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::{CurrentUser, MissingAuthLayer};
pub use guard::{AccessDenied, LoginRequired, RequireLogin, RequireLoginLayer, UserRule};
pub use hook::{AfterLogin, AfterLoginHook, BoxError, LoginInfo};
pub use layer::{AuthLayer, AuthLayerBuilder, AuthService, Routes};
pub use user::{AccessToken, TokenError, Tokens, User};
