//! Small helpers shared by several modules, one job per file. Nothing here imports
//! anything else from the crate.

mod ct;
mod net;
mod random;
#[cfg(test)]
pub(crate) mod scratch;
mod spelling;
mod text;

pub(crate) use self::ct::same_bytes;
pub(crate) use self::net::{is_loopback_host, is_loopback_url};
pub(crate) use self::random::random_token;
pub(crate) use self::spelling::closest;
pub(crate) use self::text::bounded;
