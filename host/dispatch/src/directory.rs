//! Accounts and scenes as the pipeline sees them. The embedded store implements
//! [`Directory`]; the pipeline never touches the database itself.

use uuid::Uuid;

/// A user account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    /// OpenSim user level (god levels are 200 and above).
    pub level: i32,
    /// `md5hex(md5hex(password) + ":" + salt)`, as OpenSim stores it.
    pub password_hash: String,
    pub password_salt: String,
}

impl Account {
    pub fn name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }
}

/// A hosted scene (region) and its estate roles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SceneInfo {
    pub id: Uuid,
    pub name: String,
    pub estate_owner: Uuid,
    pub estate_managers: Vec<Uuid>,
}

#[derive(Debug, thiserror::Error)]
#[error("directory unavailable: {0}")]
pub struct DirectoryError(pub String);

/// Look-ups the pipeline needs. Implementations must be cheap enough to call on
/// every CreateCapabilityRequest and InfoRequest.
pub trait Directory: Send + Sync {
    /// Hosted scenes in registration order.
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError>;
    fn account_by_id(&self, id: Uuid) -> Result<Option<Account>, DirectoryError>;
    fn account_by_name(&self, first: &str, last: &str) -> Result<Option<Account>, DirectoryError>;
    fn account_by_email(&self, email: &str) -> Result<Option<Account>, DirectoryError>;

    /// The scene with exactly this name (names are case-sensitive).
    fn scene(&self, name: &str) -> Result<Option<SceneInfo>, DirectoryError> {
        Ok(self.scenes()?.into_iter().find(|s| s.name == name))
    }
}
