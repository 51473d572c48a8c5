//! `session_store = "sqlite://PATH"`: sessions in one file on this machine.

use std::path::Path;
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::OnceCell;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, ExpiredDeletion, SessionStore};
use tower_sessions_sqlx_store::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions,
};
use tower_sessions_sqlx_store::SqliteStore;

/// How often expired sessions are deleted from the file.
const SWEEP_EVERY: Duration = Duration::from_secs(5 * 60);

/// Opens (creating it with mode 0600 when missing) the sessions file at `path`. Nothing is
/// read or written yet: the table is created by the first use, and a task deletes expired
/// sessions every few minutes for as long as the store lives. The error is a plain reason.
pub(crate) fn open_sqlite(path: &Path) -> Result<Arc<dyn SessionStore>, String> {
    Ok(open_sweeping_every(path, SWEEP_EVERY)?)
}

/// [`open_sqlite`], deleting expired sessions every `period` (the tests' hook: they cannot
/// wait [`SWEEP_EVERY`]).
fn open_sweeping_every(path: &Path, period: Duration) -> Result<Arc<Migrated>, String> {
    let runtime = super::runtime::require_runtime()?;
    prepare_file(path)?;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(false)
        // Several connections of this process, readers never blocked by the writer.
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options);
    let store = Arc::new(Migrated {
        inner: SqliteStore::new(pool),
        ready: OnceCell::new(),
    });
    runtime.spawn(sweep(Arc::downgrade(&store), period));
    Ok(store)
}

/// Creates the file readable by this user only when it is missing (SQLite gives its
/// journal and WAL files the same mode), or checks that an existing one can be written.
fn prepare_file(path: &Path) -> Result<(), String> {
    let shown = path.display();
    let mut create = std::fs::OpenOptions::new();
    create.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut create, 0o600);
    match create.open(path) {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("cannot create the sessions file {shown}: {e}")),
    }
    let metadata = std::fs::metadata(path)
        .map_err(|e| format!("cannot read the sessions file {shown}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{shown} is not a file"));
    }
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot write the sessions file {shown}: {e}"))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                file = %shown,
                mode = format!("{mode:o}"),
                "the sessions file can be read by other users; `chmod 600` it"
            );
        }
    }
    Ok(())
}

/// Deletes expired sessions every `period` until the store is dropped.
async fn sweep(store: Weak<Migrated>, period: Duration) {
    let mut every = tokio::time::interval(period);
    every.tick().await;
    loop {
        every.tick().await;
        let Some(store) = store.upgrade() else {
            return;
        };
        if let Err(e) = store.delete_expired().await {
            tracing::warn!(error = %e, "could not delete expired sessions from the sessions file");
        }
    }
}

/// [`SqliteStore`] that creates its table before its first use.
#[derive(Debug)]
struct Migrated {
    inner: SqliteStore,
    ready: OnceCell<()>,
}

impl Migrated {
    async fn ready(&self) -> session_store::Result<()> {
        self.ready
            .get_or_try_init(|| async {
                self.inner
                    .migrate()
                    .await
                    .map_err(|e| session_store::Error::Backend(e.to_string()))
            })
            .await
            .map(|_| ())
    }

    async fn delete_expired(&self) -> session_store::Result<()> {
        self.ready().await?;
        self.inner.delete_expired().await
    }
}

#[async_trait]
impl SessionStore for Migrated {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.ready().await?;
        self.inner.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.ready().await?;
        self.inner.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.ready().await?;
        self.inner.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.ready().await?;
        self.inner.delete(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Component, PathBuf};
    use std::time::Duration;

    use time::OffsetDateTime;
    use tower_sessions_core::session::{Id, Record};
    use tower_sessions_core::session_store::SessionStore;
    use tower_sessions_sqlx_store::sqlx::{self, sqlite::SqliteConnectOptions, ConnectOptions};

    use super::open_sweeping_every;

    fn record(expires_in: time::Duration) -> Record {
        Record {
            id: Id::default(),
            data: Default::default(),
            expiry_date: OffsetDateTime::now_utc() + expires_in,
        }
    }

    /// Rows in the file, whether expired or not (the store's own `load` hides expired ones).
    async fn rows(path: &std::path::Path) -> i64 {
        let mut connection = SqliteConnectOptions::new()
            .filename(path)
            .connect()
            .await
            .unwrap();
        sqlx::query_scalar("select count(*) from tower_sessions")
            .fetch_one(&mut connection)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn expired_sessions_are_never_loaded_and_are_deleted_by_the_sweep() {
        let dir = crate::util::scratch::tempdir().unwrap();
        let path = dir.path().join("sessions.db");
        let store = open_sweeping_every(&path, Duration::from_millis(300)).unwrap();
        let mut expired = record(time::Duration::seconds(-1));
        let mut live = record(time::Duration::hours(1));
        store.create(&mut expired).await.unwrap();
        store.create(&mut live).await.unwrap();
        // Before any sweep: in the file, but not loaded.
        assert_eq!(rows(&path).await, 2);
        assert!(store.load(&expired.id).await.unwrap().is_none());
        assert!(store.load(&live.id).await.unwrap().is_some());

        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rows(&path).await != 1 {
            assert!(
                std::time::Instant::now() < deadline,
                "the expired session was not swept"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            store.load(&live.id).await.unwrap().is_some(),
            "the sweep keeps live sessions"
        );
    }

    /// `sqlite://sessions.db` is opened relative to the working directory, as `.streamlit/`
    /// is: the path is used as written, not resolved against anything else. (Changing the
    /// working directory in a test is unsafe while other tests run: the relative path is
    /// written from the current one instead.)
    #[tokio::test]
    async fn a_relative_path_is_relative_to_the_working_directory() {
        let dir = crate::util::scratch::tempdir().unwrap();
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd
            .components()
            .filter(|c| matches!(c, Component::Normal(_)))
        {
            relative.push("..");
        }
        relative.push(dir.path().strip_prefix("/").unwrap());
        relative.push("relative.db");
        assert!(relative.is_relative(), "{}", relative.display());

        let store = open_sweeping_every(&relative, Duration::from_secs(60)).unwrap();
        let mut session = record(time::Duration::hours(1));
        store.create(&mut session).await.unwrap();
        let file = dir.path().join("relative.db");
        assert!(file.is_file(), "created at {}", file.display());
        assert_eq!(rows(&file).await, 1);
    }
}
