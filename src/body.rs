//! [`PageBody`]: the response bodies the layers write their own pages in.
//!
//! [`AuthLayer`](crate::AuthLayer) and [`RequireLoginLayer`](crate::RequireLoginLayer)
//! answer some requests themselves (the login routes, a `503` when the session store is
//! unreachable, a redirect to the login). They write those answers in the wrapped service's
//! own body type, as tower-http's layers do with `ResBody: Default`, rather than in an
//! `Either` of two bodies: axum boxes any body that is not its own `Body` once more per
//! response, which cost every request behind `Router::layer` an allocation and a layer of
//! dynamic calls per frame.

use std::convert::Infallible;

use bytes::Bytes;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{BodyExt, Either, Full};

/// A response body type the layers can write their own small pages and redirects in.
///
/// Implemented for axum's `Body` (feature `axum`), [`Full<Bytes>`], [`BoxBody`] and
/// [`UnsyncBoxBody`] with `Bytes` data, and [`Either`] whose left side is one of them.
/// A service with another body type implements it for that type: `from_page` gets the
/// whole page at once.
pub trait PageBody: Sized {
    /// The body of one of the layer's own pages (empty for a redirect).
    fn from_page(page: Full<Bytes>) -> Self;
}

impl PageBody for Full<Bytes> {
    fn from_page(page: Full<Bytes>) -> Self {
        page
    }
}

impl<E: 'static> PageBody for BoxBody<Bytes, E> {
    fn from_page(page: Full<Bytes>) -> Self {
        page.map_err(|never: Infallible| match never {}).boxed()
    }
}

impl<E: 'static> PageBody for UnsyncBoxBody<Bytes, E> {
    fn from_page(page: Full<Bytes>) -> Self {
        page.map_err(|never: Infallible| match never {})
            .boxed_unsync()
    }
}

impl<L: PageBody, R> PageBody for Either<L, R> {
    fn from_page(page: Full<Bytes>) -> Self {
        Either::Left(L::from_page(page))
    }
}

#[cfg(feature = "axum")]
impl PageBody for axum_core::body::Body {
    fn from_page(page: Full<Bytes>) -> Self {
        axum_core::body::Body::new(page)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use http_body::Body;

    async fn text<B>(body: B) -> String
    where
        B: Body,
        B::Error: std::fmt::Debug,
    {
        let bytes = body.collect().await.expect("a page body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    fn page() -> Full<Bytes> {
        Full::new(Bytes::from_static(b"<p>sign in</p>"))
    }

    #[tokio::test]
    async fn every_body_type_carries_the_whole_page() {
        assert_eq!(
            text(Full::<Bytes>::from_page(page())).await,
            "<p>sign in</p>"
        );
        let boxed: BoxBody<Bytes, std::io::Error> = PageBody::from_page(page());
        assert_eq!(text(boxed).await, "<p>sign in</p>");
        let unsync: UnsyncBoxBody<Bytes, std::io::Error> = PageBody::from_page(page());
        assert_eq!(text(unsync).await, "<p>sign in</p>");
        let either: Either<Full<Bytes>, String> = PageBody::from_page(page());
        assert!(matches!(either, Either::Left(_)));
        assert_eq!(text(either).await, "<p>sign in</p>");
    }

    #[cfg(feature = "axum")]
    #[tokio::test]
    async fn axum_bodies_carry_the_whole_page() {
        let body = axum_core::body::Body::from_page(page());
        assert_eq!(text(body).await, "<p>sign in</p>");
    }
}
