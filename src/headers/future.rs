//! [`TrustedHeadersFuture`]: the response future of [`TrustedHeaders`](super::TrustedHeaders).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

pin_project! {
    /// The response future of [`TrustedHeaders`](super::TrustedHeaders): the wrapped
    /// service's own future (the layer never answers by itself), with nothing allocated.
    pub struct TrustedHeadersFuture<F> {
        #[pin]
        inner: F,
    }
}

impl<F> TrustedHeadersFuture<F> {
    pub(super) fn new(inner: F) -> Self {
        TrustedHeadersFuture { inner }
    }
}

impl<F: Future> Future for TrustedHeadersFuture<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F> fmt::Debug for TrustedHeadersFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustedHeadersFuture")
            .finish_non_exhaustive()
    }
}
