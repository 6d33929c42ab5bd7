//! The embedded broker: what polygate needs of one ([`EmbeddedBroker`]) and the one
//! implementation, on the mqtt5 crate (pinned, and vendored in vendor/mqtt5 with the memory
//! patches its POLYGATE.md lists). An upgrade or a swap of the broker touches this file (and,
//! for an upgrade, re-applies those patches) only.
//!
//! Defaults are set explicitly, never inherited from the crate: only the configured addresses
//! are bound, storage lives in the configured directory (never the working directory), packets
//! are capped, `$SYS` topics are off, and devices log in with a configured user unless
//! anonymous access is asked for (or, with `jwt_passwords`, log in with a JWT as the password,
//! verified by the policies' JWT verifier). polygate's own clients (the bridge, the publisher, `mqtt:`
//! backends) log in with a user made up at start with a random password.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use mqtt5::broker::config::TlsConfig;
use mqtt5::broker::{
    AuthProvider, AuthResult, BrokerConfig, BrokerShutdownHandle, MqttBroker, StorageBackendType,
    StorageConfig,
};
use mqtt5::packet::connect::ConnectPacket;
use mqtt5::protocol::v5::reason_codes::ReasonCode;
use tokio::task::JoinHandle;

use super::config::EmbeddedBrokerSettings;
use crate::mqtt_client::EmbeddedAccess;
use crate::pipeline::Pipeline;

/// The user name polygate's own clients log in with.
const INTERNAL_USER: &str = "polygate-internal";

/// Where JWT passwords are verified: the pipeline's policies, set once the frontend serves
/// (JWT logins before that are refused).
pub(crate) type JwtVerifier = Arc<OnceLock<Arc<Pipeline>>>;

/// A future the broker completes.
pub(crate) type BrokerFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A broker running in polygate's process.
pub(crate) trait EmbeddedBroker: Send {
    /// Where devices connect over TCP.
    fn local_addr(&self) -> SocketAddr;
    /// Where devices connect over TLS, if configured.
    fn tls_addr(&self) -> Option<SocketAddr>;
    /// How polygate's own clients log in.
    fn access(&self) -> EmbeddedAccess;
    /// Stops accepting, closes connections and writes its storage out; resolves when done.
    fn stop(self: Box<Self>) -> BrokerFuture;
}

/// Why the broker did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BrokerError {
    /// The storage directory cannot be made.
    #[error("storage_dir {0}: {1}")]
    Storage(String, std::io::Error),
    /// The broker refused its configuration or could not bind.
    #[error("{0}")]
    Start(String),
}

/// Starts the mqtt5 broker with `settings`; JWT passwords (when `settings` accept them) are
/// verified through `verifier`.
pub(crate) async fn start(
    settings: &EmbeddedBrokerSettings,
    verifier: &JwtVerifier,
) -> Result<Box<dyn EmbeddedBroker>, BrokerError> {
    let storage = match &settings.storage_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .map_err(|e| BrokerError::Storage(dir.display().to_string(), e))?;
            StorageConfig::new()
                .with_backend(StorageBackendType::File)
                .with_base_dir(dir.clone())
                .with_persistence(true)
        }
        None => StorageConfig::new()
            .with_backend(StorageBackendType::Memory)
            .with_persistence(false),
    }
    .with_max_queued_messages_per_client(settings.max_queued_messages);
    let mut config = BrokerConfig::default()
        .with_bind_address(settings.listen)
        .with_storage(storage)
        .with_max_packet_size(settings.max_packet_size)
        .with_max_clients(settings.max_connections)
        .with_sys_topics_enabled(false);
    if let Some((listen, cert, key, client_ca)) = &settings.tls {
        let mut tls = TlsConfig::new(cert.clone(), key.clone()).with_bind_address(*listen);
        if let Some(ca) = client_ca {
            tls = tls.with_ca_file(ca.clone()).with_require_client_cert(true);
        }
        config = config.with_tls(tls);
    }
    // The provider set below replaces the crate's own and decides every login; the crate
    // refuses a config that disallows anonymous logins without its own password file.
    config.auth_config.allow_anonymous = true;
    let internal_password = random_password();
    let auth = Arc::new(PasswordAuth {
        users: settings.users.clone(),
        internal_password: internal_password.clone(),
        allow_anonymous: settings.allow_anonymous,
        jwt: settings.jwt_passwords.then(|| verifier.clone()),
        acl: settings.acl.clone(),
    });
    let mut broker = MqttBroker::with_config(config)
        .await
        .map_err(|e| BrokerError::Start(e.to_string()))?
        .with_auth_provider(auth);
    let addr = broker
        .local_addr()
        .ok_or_else(|| BrokerError::Start("the broker bound no TCP listener".into()))?;
    let tls_addr = broker.tls_local_addr();
    let stop = broker.shutdown_handle();
    let mut ready = broker.ready_receiver();
    let task = tokio::spawn(async move {
        if let Err(error) = broker.run().await {
            tracing::error!(%error, "the embedded MQTT broker stopped");
        }
    });
    // `run` binds nothing more; waiting for it to be ready means the first CONNECT is served.
    let _ = ready.wait_for(|ready| *ready).await;
    Ok(Box::new(Mqtt5Broker {
        addr,
        tls_addr,
        access: EmbeddedAccess {
            addr,
            credentials: (INTERNAL_USER.to_owned(), internal_password),
        },
        stop,
        task,
    }))
}

struct Mqtt5Broker {
    addr: SocketAddr,
    tls_addr: Option<SocketAddr>,
    access: EmbeddedAccess,
    stop: BrokerShutdownHandle,
    task: JoinHandle<()>,
}

impl EmbeddedBroker for Mqtt5Broker {
    fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    fn access(&self) -> EmbeddedAccess {
        self.access.clone()
    }

    fn stop(self: Box<Self>) -> BrokerFuture {
        Box::pin(async move {
            self.stop.shutdown();
            let _ = self.task.await;
        })
    }
}

/// 32 random bytes as hex: the internal user's password for this process.
fn random_password() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 32];
    // The system's generator does not fail on supported platforms; a zero password would
    // still be unguessable only to no one, so fall back to the time as well.
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes[..16].copy_from_slice(&nanos.to_le_bytes());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Logins by user name and password from the config (or a JWT as the password), plus
/// polygate's internal user.
struct PasswordAuth {
    users: BTreeMap<String, String>,
    internal_password: String,
    allow_anonymous: bool,
    /// Where JWT passwords are verified; `None`: passwords are never JWTs.
    jwt: Option<JwtVerifier>,
    /// Topic ACLs; polygate's own connection is not restricted.
    acl: crate::policy::topic_acl::TopicAcl,
}

impl PasswordAuth {
    /// Decides a CONNECT: a password with a JWT's shape (when JWT passwords are on) is verified
    /// as a token, anything else by [`Self::check`].
    async fn login(&self, user: Option<&str>, password: Option<&[u8]>) -> AuthResult {
        let token = password.and_then(|p| std::str::from_utf8(p).ok());
        if let (Some(verifier), Some(token)) = (&self.jwt, token) {
            let Some(pipeline) = verifier.get() else {
                return AuthResult::fail(ReasonCode::ServerUnavailable);
            };
            if let Some(verified) = pipeline.policies().verify_jwt_password(token).await {
                return jwt_login(user, verified);
            }
        }
        self.check(user, password)
    }

    fn check(&self, user: Option<&str>, password: Option<&[u8]>) -> AuthResult {
        let Some(user) = user else {
            return if self.allow_anonymous {
                AuthResult::success()
            } else {
                AuthResult::fail(ReasonCode::NotAuthorized)
            };
        };
        let expected = if user == INTERNAL_USER {
            Some(self.internal_password.as_bytes())
        } else {
            self.users.get(user).map(String::as_bytes)
        };
        let given = password.unwrap_or_default();
        match expected {
            Some(expected) if same_secret(expected, given) => AuthResult::success_with_user(user),
            _ => AuthResult::fail(ReasonCode::BadUsernameOrPassword),
        }
    }
}

/// The login of a verified (or refused) JWT password: the identity is the token's `sub`; a user
/// name, when given, must be the same, and polygate's internal user cannot be claimed.
fn jwt_login(
    user: Option<&str>,
    verified: Result<Arc<crate::model::Identity>, Box<str>>,
) -> AuthResult {
    let refused = |reason: &str| {
        tracing::debug!(reason, "embedded MQTT broker: JWT password refused");
        AuthResult::fail(ReasonCode::BadUsernameOrPassword)
    };
    match verified {
        Err(reason) => refused(&reason),
        Ok(identity) if identity.subject.is_empty() => refused("the token has no sub"),
        Ok(identity) if &*identity.subject == INTERNAL_USER => {
            refused("the token's sub is polygate's internal user")
        }
        Ok(identity) if user.is_some_and(|u| !u.is_empty() && u != &*identity.subject) => {
            refused("the user name is not the token's sub")
        }
        Ok(identity) => AuthResult::success_with_user(identity.subject.to_string()),
    }
}

/// Compares two secrets in time that depends on neither (their digests are compared whole).
fn same_secret(expected: &[u8], given: &[u8]) -> bool {
    use ring::digest::{digest, SHA256};
    let (a, b) = (digest(&SHA256, expected), digest(&SHA256, given));
    a.as_ref()
        .iter()
        .zip(b.as_ref())
        .fold(0u8, |differ, (x, y)| differ | (x ^ y))
        == 0
}

type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl AuthProvider for PasswordAuth {
    fn authenticate<'a>(
        &'a self,
        connect: &'a ConnectPacket,
        _client_addr: SocketAddr,
    ) -> Boxed<'a, mqtt5::Result<AuthResult>> {
        Box::pin(async move {
            Ok(self
                .login(connect.username.as_deref(), connect.password.as_deref())
                .await)
        })
    }

    fn authorize_publish<'a>(
        &'a self,
        _client_id: &str,
        user_id: Option<&'a str>,
        topic: &'a str,
    ) -> Boxed<'a, bool> {
        let allowed = user_id == Some(INTERNAL_USER) || self.acl.may_publish(user_id, topic);
        Box::pin(async move { allowed })
    }

    fn authorize_subscribe<'a>(
        &'a self,
        _client_id: &str,
        user_id: Option<&'a str>,
        topic_filter: &'a str,
    ) -> Boxed<'a, bool> {
        let allowed =
            user_id == Some(INTERNAL_USER) || self.acl.may_subscribe(user_id, topic_filter);
        Box::pin(async move { allowed })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_need_a_known_user_and_its_password_unless_anonymous() {
        let auth = PasswordAuth {
            users: [("dev".to_owned(), "pw".to_owned())].into(),
            internal_password: "secret".into(),
            allow_anonymous: false,
            jwt: None,
            acl: Default::default(),
        };
        assert!(auth.check(Some("dev"), Some(b"pw")).authenticated);
        assert!(!auth.check(Some("dev"), Some(b"px")).authenticated);
        assert!(!auth.check(Some("dev"), None).authenticated);
        assert!(!auth.check(Some("nobody"), Some(b"pw")).authenticated);
        assert!(!auth.check(None, None).authenticated);
        assert!(
            auth.check(Some(INTERNAL_USER), Some(b"secret"))
                .authenticated
        );
        let anonymous = PasswordAuth {
            allow_anonymous: true,
            ..auth
        };
        assert!(anonymous.check(None, None).authenticated);
        assert!(!anonymous.check(Some("dev"), Some(b"bad")).authenticated);
    }

    #[test]
    fn a_jwt_login_is_its_subject_and_a_user_name_must_match_it() {
        let identity = |subject: &str| {
            Ok(Arc::new(crate::model::Identity {
                scheme: "jwt",
                subject: subject.into(),
                scopes: Vec::new(),
                metadata: Vec::new(),
                expires: None,
            }))
        };
        let ok = jwt_login(None, identity("dev-7"));
        assert!(ok.authenticated);
        assert_eq!(ok.user_id.as_deref(), Some("dev-7"));
        assert!(jwt_login(Some(""), identity("dev-7")).authenticated);
        assert!(jwt_login(Some("dev-7"), identity("dev-7")).authenticated);
        for refused in [
            jwt_login(Some("dev-8"), identity("dev-7")),
            jwt_login(None, identity("")),
            jwt_login(None, identity(INTERNAL_USER)),
            jwt_login(Some("dev-7"), Err("the token has expired".into())),
        ] {
            assert!(!refused.authenticated);
            assert_eq!(refused.reason_code, ReasonCode::BadUsernameOrPassword);
        }
    }

    #[test]
    fn internal_passwords_are_long_and_differ() {
        let (a, b) = (random_password(), random_password());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
