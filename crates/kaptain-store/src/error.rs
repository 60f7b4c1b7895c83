use std::path::PathBuf;

/// Everything the store can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database URL is not one the store understands (the password is never shown).
    #[error("database URL {url}: {message}")]
    InvalidUrl {
        /// The URL with any password replaced by `***`.
        url: String,
        /// What is wrong with it.
        message: String,
    },

    /// The SQLite file does not exist and the store was told not to create it.
    #[error("no database at {}", path.display())]
    NoDatabase {
        /// The missing file.
        path: PathBuf,
    },

    /// The database server cannot be reached or refuses the connection.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL with any password replaced by `***`.
        url: String,
        /// Why.
        message: String,
    },

    /// A query, a connection or a transaction failed.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),

    /// Running the embedded migrations failed.
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    /// A pagination cursor that this store did not hand out (or for another listing).
    #[error("invalid cursor")]
    InvalidCursor,

    /// An argument out of range (a bucket width of 0, a NaN progress, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// The object asked for does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// `run`, `token`, ...
        what: &'static str,
        /// Its id.
        id: i64,
    },

    /// The change is not allowed in the object's current state (e.g. updating a finished run).
    #[error("{0}")]
    Conflict(String),

    /// A secret setting was written or read, but the store was opened without a key.
    #[error(
        "setting {name:?} is secret, but the store has no encryption key (see StoreOptions::secret_key)"
    )]
    NoSecretKey {
        /// The setting's name.
        name: String,
    },

    /// A secret setting could not be decrypted: the key differs from the one that wrote it,
    /// or the stored value was changed.
    #[error("setting {name:?} cannot be decrypted: wrong key or modified value")]
    Decrypt {
        /// The setting's name.
        name: String,
    },

    /// The secret key file or text is unusable.
    #[error("secret key {source_name}: {message}")]
    Key {
        /// The file, or `KAPTAIN_SECRET_KEY`.
        source_name: String,
        /// What is wrong with it.
        message: String,
    },

    /// A file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },

    /// A stored value does not decode (an unknown role, broken JSON, a time out of range):
    /// someone wrote to the database behind the store's back.
    #[error("corrupt data in the store: {0}")]
    Corrupt(String),

    /// The operating system's random number generator failed.
    #[error("random number generator: {0}")]
    Random(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Corrupt(format!("JSON: {e}"))
    }
}
