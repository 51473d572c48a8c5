//! [`AuthFuture`]: the response future of [`AuthService`](super::AuthService).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http::header::{HeaderValue, SET_COOKIE};
use http::Response;
use http_body_util::Full;
use pin_project_lite::pin_project;

use crate::body::PageBody;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// How a request whose visitor the store had to be asked about ended.
pub(super) enum Loaded<O> {
    /// The wrapped service answered (`output`); `stale` deletes a session cookie that no
    /// longer counts.
    Inner {
        output: O,
        stale: Option<HeaderValue>,
    },
    /// The layer answered itself (the store could not be reached).
    Page(Response<Full<Bytes>>),
}

pin_project! {
    /// The response future of [`AuthService`](super::AuthService).
    ///
    /// When the visitor is known at once (no session cookie, or the in-memory store) it is
    /// the wrapped service's own future, with nothing allocated; the layer's own routes and
    /// a visitor that an external store must look up are boxed.
    pub struct AuthFuture<F>
    where
        F: Future,
    {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F>
    where
        F: Future,
    {
        /// The wrapped service answers. `stale` deletes a session cookie that no longer
        /// counts.
        Inner {
            #[pin]
            future: F,
            stale: Option<HeaderValue>,
        },
        /// One of the layer's own routes (login, callback, logout).
        Route {
            future: BoxFuture<Response<Full<Bytes>>>,
        },
        /// The store is asked who the visitor is, then the wrapped service answers.
        Loading {
            future: BoxFuture<Loaded<F::Output>>,
        },
    }
}

impl<F: Future> AuthFuture<F> {
    pub(super) fn inner(future: F, stale: Option<HeaderValue>) -> Self {
        AuthFuture {
            kind: Kind::Inner { future, stale },
        }
    }

    pub(super) fn route(future: BoxFuture<Response<Full<Bytes>>>) -> Self {
        AuthFuture {
            kind: Kind::Route { future },
        }
    }

    pub(super) fn loading(future: BoxFuture<Loaded<F::Output>>) -> Self {
        AuthFuture {
            kind: Kind::Loading { future },
        }
    }
}

impl<F, B, E> Future for AuthFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: PageBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            // The common case: the wrapped service's own poll, its response not moved
            // through `finish`.
            KindProj::Inner {
                future,
                stale: None,
            } => future.poll(cx),
            KindProj::Inner { future, stale } => {
                let result = ready!(future.poll(cx));
                Poll::Ready(finish(result, stale.take()))
            }
            KindProj::Route { future } => {
                Poll::Ready(Ok(ready!(future.as_mut().poll(cx)).map(B::from_page)))
            }
            KindProj::Loading { future } => match ready!(future.as_mut().poll(cx)) {
                Loaded::Inner { output, stale } => Poll::Ready(finish(output, stale)),
                Loaded::Page(page) => Poll::Ready(Ok(page.map(B::from_page))),
            },
        }
    }
}

/// The wrapped service's response as it is (its body is not wrapped: see
/// [`PageBody`]), deleting a stale session cookie.
fn finish<B, E>(
    result: Result<Response<B>, E>,
    stale: Option<HeaderValue>,
) -> Result<Response<B>, E> {
    let mut response = result?;
    if let Some(removal) = stale {
        response.headers_mut().append(SET_COOKIE, removal);
    }
    Ok(response)
}

impl<F: Future> fmt::Debug for AuthFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Route { .. } => "route",
            Kind::Loading { .. } => "loading",
        };
        f.debug_struct("AuthFuture").field("kind", &kind).finish()
    }
}
