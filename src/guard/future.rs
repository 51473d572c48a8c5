//! [`RequireLoginFuture`]: the response future of [`RequireLogin`](super::RequireLogin).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use http_body_util::Full;
use pin_project_lite::pin_project;

use crate::body::PageBody;

pin_project! {
    /// The response future of [`RequireLogin`](super::RequireLogin): the wrapped service's
    /// own future for a logged-in visitor, the ready answer for anyone else. Nothing is
    /// allocated.
    pub struct RequireLoginFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Inner {
            #[pin]
            future: F,
        },
        Rejected {
            response: Option<Response<Full<Bytes>>>,
        },
    }
}

impl<F> RequireLoginFuture<F> {
    pub(super) fn inner(future: F) -> Self {
        RequireLoginFuture {
            kind: Kind::Inner { future },
        }
    }

    pub(super) fn rejected(response: Response<Full<Bytes>>) -> Self {
        RequireLoginFuture {
            kind: Kind::Rejected {
                response: Some(response),
            },
        }
    }
}

impl<F, B, E> Future for RequireLoginFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    B: PageBody,
{
    type Output = Result<Response<B>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Inner { future } => future.poll(cx),
            KindProj::Rejected { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response.map(B::from_page))),
                // Polled again after it answered: a contract violation by the caller, which
                // still gets an answer rather than a panic.
                None => Poll::Ready(Ok(Response::new(B::from_page(Full::default())))),
            },
        }
    }
}

impl<F> fmt::Debug for RequireLoginFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match &self.kind {
            Kind::Inner { .. } => "inner",
            Kind::Rejected { .. } => "rejected",
        };
        f.debug_struct("RequireLoginFuture")
            .field("kind", &kind)
            .finish()
    }
}
