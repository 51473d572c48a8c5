//! Unguessable values: `state`, browser bindings, logout states, the development
//! provider's codes and tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// 256 bits from the operating system's CSPRNG (through `rand`'s thread-local generator,
/// which is seeded from it), base64url without padding: 43 characters.
pub(crate) fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}
