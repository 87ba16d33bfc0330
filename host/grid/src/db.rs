//! Connections: the pool every statement uses, the listening connection for
//! change notices, and the classification of a failed first connection.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use futures_util::stream::{self, StreamExt};
use tokio::sync::mpsc;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::config::redact_url;
use crate::error::{describe, GridError};
use crate::schema::CHANGES_CHANNEL;

/// How long establishing a connection may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Connections in the pool.
const POOL_SIZE: usize = 8;

/// Parse the URL and set the timeouts every connection uses.
pub(crate) fn pg_config(url: &str) -> Result<tokio_postgres::Config, GridError> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| GridError::Unreachable {
        url: redact_url(url),
        reason: format!("not a PostgreSQL URL: {e}"),
    })?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(10));
    config.application_name("dispatcher-grid");
    Ok(config)
}

/// The pool; no connection is made until the first statement.
pub(crate) fn pool(config: tokio_postgres::Config) -> Result<Pool, GridError> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(POOL_SIZE)
        .runtime(Runtime::Tokio1)
        .wait_timeout(Some(CONNECT_TIMEOUT))
        .create_timeout(Some(CONNECT_TIMEOUT))
        .recycle_timeout(Some(CONNECT_TIMEOUT))
        .build()
        .map_err(|e| GridError::Database(e.to_string()))
}

/// What the first connection's failure means for the operator.
pub(crate) fn classify_connect(url: &str, e: deadpool_postgres::PoolError) -> GridError {
    use deadpool_postgres::PoolError;
    let url = redact_url(url);
    match e {
        PoolError::Backend(e) => {
            let login = e.as_db_error().is_some_and(|db| {
                let code = db.code();
                *code == SqlState::INVALID_PASSWORD
                    || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
                    || *code == SqlState::INVALID_CATALOG_NAME
            });
            if login {
                GridError::Login { url, reason: describe(&e) }
            } else {
                GridError::Unreachable { url, reason: describe(&e) }
            }
        }
        PoolError::Timeout(_) => GridError::Unreachable {
            url,
            reason: format!("no connection within {} s", CONNECT_TIMEOUT.as_secs()),
        },
        other => GridError::Unreachable {
            url,
            reason: other.to_string(),
        },
    }
}

/// The synthetic notice sent once LISTEN is in place.
pub(crate) const LISTENING: &str = "listening";

/// One change notice's payload.
pub(crate) type Notice = String;

/// Open a connection that LISTENs on the changes channel; notices arrive on
/// `tx` until the connection ends (then the returned future completes).
pub(crate) async fn listen(config: &tokio_postgres::Config, tx: mpsc::UnboundedSender<Notice>) -> Result<(), GridError> {
    let (client, mut connection) = config.connect(NoTls).await?;
    let ready = tx.clone();
    let (ended_tx, mut ended_rx) = tokio::sync::oneshot::channel::<Option<String>>();
    let pump = tokio::spawn(async move {
        let mut messages = stream::poll_fn(move |cx| connection.poll_message(cx));
        let mut why = None;
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if tx.send(n.payload().to_owned()).is_err() {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    why = Some(describe(&e));
                    break;
                }
            }
        }
        let _ = ended_tx.send(why);
    });
    client.batch_execute(&format!("LISTEN {CHANGES_CHANNEL}")).await?;
    // Tell the caller that notices flow from now on (any sent before may have been missed).
    let _ = ready.send(LISTENING.to_owned());
    let result = match (&mut ended_rx).await {
        Ok(Some(why)) => Err(GridError::Database(format!("change notices: connection lost: {why}"))),
        _ => Err(GridError::Database("change notices: connection closed".into())),
    };
    pump.abort();
    drop(client);
    result
}
