//! The Tokio runtime the stores' connections and sweeper run on.

/// Opening a store needs the Tokio runtime its connections and sweeper run on.
pub(super) fn require_runtime() -> Result<tokio::runtime::Handle, String> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        "the store is opened when the layer is built, which must then run inside a Tokio \
         runtime (build the layer in `#[tokio::main]` or an async function)"
            .to_owned()
    })
}
