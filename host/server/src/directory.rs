//! The store seen as the pipeline's [`Directory`] of accounts and scenes.

use std::sync::Arc;

use dispatcher_dispatch::{Account, Directory, DirectoryError, SceneInfo};
use dispatcher_store::{Store, StoreError};
use uuid::Uuid;

pub struct StoreDirectory(pub Arc<Store>);

fn err(e: StoreError) -> DirectoryError {
    DirectoryError(e.to_string())
}

fn account(a: dispatcher_store::Account) -> Account {
    Account {
        id: a.id,
        first_name: a.first_name,
        last_name: a.last_name,
        email: a.email,
        level: a.level,
        password_hash: a.password_hash,
        password_salt: a.password_salt,
    }
}

impl Directory for StoreDirectory {
    fn scenes(&self) -> Result<Vec<SceneInfo>, DirectoryError> {
        Ok(self
            .0
            .list_regions()
            .map_err(err)?
            .into_iter()
            .map(|r| SceneInfo {
                id: r.id,
                name: r.name,
                estate_owner: r.owner,
                estate_managers: r.managers,
            })
            .collect())
    }

    fn account_by_id(&self, id: Uuid) -> Result<Option<Account>, DirectoryError> {
        Ok(self.0.account_by_id(id).map_err(err)?.map(account))
    }

    fn account_by_name(&self, first: &str, last: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(self.0.account_by_name(first, last).map_err(err)?.map(account))
    }

    fn account_by_email(&self, email: &str) -> Result<Option<Account>, DirectoryError> {
        Ok(self.0.account_by_email(email).map_err(err)?.map(account))
    }
}
