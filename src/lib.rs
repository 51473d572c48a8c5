#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

pub mod config;
pub mod error;
#[cfg(feature = "axum")]
pub mod extract;
pub mod guard;
mod keys;
pub mod layer;
mod pages;
mod pending;
pub(crate) mod provider;
mod redirect;
mod routes;
pub mod session;
#[cfg(feature = "testing")]
pub mod testing;
mod user;

pub use config::{AuthConfig, AuthConfigBuilder, ConfigError, ProviderConfig, Secret};
pub use error::LoginError;
#[cfg(feature = "axum")]
pub use extract::{CurrentUser, MissingAuthLayer};
pub use guard::{LoginRequired, RequireLogin, RequireLoginLayer};
pub use layer::{AuthBody, AuthLayer, AuthLayerBuilder, AuthService, Routes};
pub use user::{Tokens, User};
