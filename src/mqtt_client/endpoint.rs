//! `EmbeddedEndpoint`: where the embedded broker listens and how polygate's own clients log in
//! to it, known once it is bound, so clients configured with `url: embedded` reach it even on
//! port 0.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::watch;

/// How polygate's own clients reach the embedded broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedAccess {
    /// The bound address.
    pub addr: SocketAddr,
    /// The user name and password the broker accepts from polygate's own clients.
    pub credentials: (String, String),
}

/// The embedded broker's access, set once by the frontend that binds it.
#[derive(Debug, Clone)]
pub struct EmbeddedEndpoint(Arc<watch::Sender<Option<EmbeddedAccess>>>);

impl Default for EmbeddedEndpoint {
    fn default() -> Self {
        Self(Arc::new(watch::channel(None).0))
    }
}

impl EmbeddedEndpoint {
    /// An endpoint not bound yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the bound broker's access.
    pub fn set(&self, access: EmbeddedAccess) {
        self.0.send_replace(Some(access));
    }

    /// The access, waiting until the broker is bound.
    pub async fn get(&self) -> EmbeddedAccess {
        let mut receiver = self.0.subscribe();
        loop {
            if let Some(access) = receiver.borrow_and_update().clone() {
                return access;
            }
            // The sender lives as long as `self`, so this only waits.
            if receiver.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// The access, if the broker is bound.
    pub fn current(&self) -> Option<EmbeddedAccess> {
        self.0.borrow().clone()
    }
}
