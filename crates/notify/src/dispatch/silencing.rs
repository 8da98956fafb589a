//! Creating, changing and expiring silences (Alertmanager's silences API and the UI):
//! stored first, then in force in the dispatcher's next pass.

use pharos_store::{SilenceRecord, StoreError};

use super::{DispatchError, Dispatcher, Silence, SilenceState, invalid};

impl Dispatcher {
    pub fn silences(&self) -> Vec<Silence> {
        self.state().silences.clone()
    }

    /// Creates or updates a silence (Alertmanager's `POST /api/v2/silences`): a change
    /// that would rewrite an active silence's past makes a new one and expires the old.
    /// Returns the id in force.
    pub async fn put_silence(&self, mut record: SilenceRecord) -> Result<String, DispatchError> {
        let now = self.now();
        if record.ends_at <= now {
            return Err(invalid("endsAt", "must be in the future"));
        }
        let existing = if record.id.is_empty() {
            None
        } else {
            let found = self
                .state()
                .silences
                .iter()
                .find(|s| s.record.id == record.id)
                .cloned();
            match found {
                Some(s) => Some(s),
                None => return Err(StoreError::NotFound(format!("silence {}", record.id)).into()),
            }
        };
        if record.starts_at < now {
            record.starts_at = match &existing {
                Some(e) if e.state(now) == SilenceState::Active => e.record.starts_at,
                _ => now,
            };
        }
        record.updated_at = now;
        let in_place = existing.as_ref().is_some_and(|e| match e.state(now) {
            SilenceState::Expired => false,
            SilenceState::Pending => true,
            SilenceState::Active => {
                e.record.starts_at == record.starts_at
                    && e.record.matchers == record.matchers
                    && e.record.time_intervals == record.time_intervals
            }
        });
        let expire_old = existing
            .as_ref()
            .filter(|_| !in_place)
            .map(|e| e.record.id.clone());
        if !in_place {
            record.id = pharos_store::new_silence_id();
        }
        let silence = Silence::new(record.clone()).map_err(|(f, m)| invalid(f, m))?;
        self.blocking(move |s| {
            if let Some(old) = &expire_old {
                match s.expire_silence(old, now) {
                    Ok(_) | Err(StoreError::Conflict(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            s.save_silence(&record)
        })
        .await?;
        let id = silence.record.id.clone();
        let mut st = self.state();
        if let Some(old) = existing.filter(|_| !in_place) {
            for s in st
                .silences
                .iter_mut()
                .filter(|s| s.record.id == old.record.id)
            {
                s.record.ends_at = now;
                s.record.updated_at = now;
            }
        }
        st.silences.retain(|s| s.record.id != id);
        st.silences.push(silence);
        drop(st);
        self.wake.notify_one();
        Ok(id)
    }

    pub async fn expire_silence(&self, id: &str) -> Result<(), DispatchError> {
        let now = self.now();
        let key = id.to_string();
        let record = self.blocking(move |s| s.expire_silence(&key, now)).await?;
        let mut st = self.state();
        for s in st.silences.iter_mut().filter(|s| s.record.id == id) {
            s.record = record.clone();
        }
        drop(st);
        // Alerts it held back go out at their group's next flush.
        self.wake.notify_one();
        Ok(())
    }
}
