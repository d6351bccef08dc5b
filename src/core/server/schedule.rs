//! Recurring jobs (SUBMIT_JOB_SCHED): cron-style schedules that queue a background job each
//! minute that matches.

use super::*;
use crate::core::journal::{ScheduleRecord, GENERATED_KEY};

/// A cron-style schedule (SUBMIT_JOB_SCHED): each field one value, `None` = any.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    /// 0-59.
    pub minute: Option<u8>,
    /// 0-23.
    pub hour: Option<u8>,
    /// 1-31.
    pub day_of_month: Option<u8>,
    /// 1-12.
    pub month: Option<u8>,
    /// 0-6, 0 = Monday (the protocol's convention).
    pub day_of_week: Option<u8>,
}

impl Schedule {
    pub(super) fn validate(&self) -> Result<()> {
        let ok = |v: Option<u8>, lo: u8, hi: u8| v.is_none_or(|v| (lo..=hi).contains(&v));
        if ok(self.minute, 0, 59)
            && ok(self.hour, 0, 23)
            && ok(self.day_of_month, 1, 31)
            && ok(self.month, 1, 12)
            && ok(self.day_of_week, 0, 6)
        {
            Ok(())
        } else {
            Err(Error::InvalidArgument("Schedule field out of range"))
        }
    }

    pub(super) fn matches(&self, f: [u32; 5]) -> [bool; 5] {
        let m = |v: Option<u8>, x: u32| v.is_none_or(|v| u32::from(v) == x);
        [
            m(self.minute, f[0]),
            m(self.hour, f[1]),
            m(self.day_of_month, f[2]),
            m(self.month, f[3]),
            m(self.day_of_week, f[4]),
        ]
    }

    /// The first whole minute strictly after `after` (Unix seconds, local time) that matches, or
    /// None if nothing matches within four years (e.g. 31 February).
    pub(crate) fn next_after(&self, after: u64) -> Option<u64> {
        let mut t = (after / 60 + 1) * 60;
        let limit = after + 4 * 366 * 86_400;
        while t <= limit {
            let f = sys::local_fields(t);
            let [mi, h, md, mo, wd] = self.matches(f);
            if !(md && mo && wd) {
                t += u64::from(24 * 60 - (f[1] * 60 + f[0])) * 60;
            } else if !h {
                t += u64::from(60 - f[0]) * 60;
            } else if !mi {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }
}

pub(crate) struct ScheduleEntry {
    name: Box<[u8]>,
    /// Its pending run, removed when it is cancelled.
    pub(super) timer: TimerKey,
    unique: Box<[u8]>,
    data: Bytes,
    priority: Priority,
    schedule: Schedule,
    /// Its row's key, when the store holds it.
    store_key: Option<Bytes>,
}

impl Inner {
    /// Adds a schedule; returns its number and the store add to wait for. `restored` is the
    /// row key of a schedule read back from the store.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_schedule(
        &self,
        client: Option<&Arc<SessionShared>>,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        priority: Priority,
        schedule: Schedule,
        restored: Option<&[u8]>,
    ) -> Result<(u64, Option<u64>)> {
        Self::check_function_name(function)?;
        if unique.len() > MAX_UNIQUE {
            return Err(Error::UniqueTooLarge);
        }
        if workload.len() > self.config.max_workload {
            return Err(Error::WorkloadTooLarge);
        }
        schedule.validate()?;
        let next = schedule
            .next_after(sys::unix_now())
            .ok_or(Error::InvalidArgument("Schedule never matches"))?;
        let id = self.next_job.fetch_add(1, Ordering::Relaxed);
        let journal = self.journal.get();
        if journal.is_some_and(|j| j.is_dead()) {
            return Err(Error::Closed);
        }
        let mut wakers = Vec::new();
        let mut ticket = None;
        let mut schedules = self.schedules.lock();
        let timer = self.add_timer(unix_to_instant(next), TimerKind::Schedule(id), &mut wakers);
        let store_key = match (restored, journal) {
            (Some(k), _) => Some(Bytes::copy_from_slice(k)),
            (None, Some(j)) => {
                let key = j.generate_key();
                if !j.deferred {
                    ticket = Some(j.add(
                        Record::Schedule(Box::new(ScheduleRecord {
                            id,
                            key,
                            function: Bytes::copy_from_slice(function),
                            unique: Bytes::copy_from_slice(unique),
                            data: workload.clone(),
                            priority,
                            schedule,
                        })),
                        client.cloned(),
                    ));
                }
                Some(Bytes::copy_from_slice(&key))
            }
            (None, None) => None,
        };
        schedules.insert(
            id,
            ScheduleEntry {
                name: function.into(),
                timer,
                unique: unique.into(),
                data: workload,
                priority,
                schedule,
                store_key,
            },
        );
        drop(schedules);
        wake_all(wakers);
        Ok((id, ticket))
    }

    /// The schedules as the store writes them (`--store-queue-on-shutdown`).
    pub(crate) fn schedule_records(&self) -> Vec<ScheduleRecord> {
        let s = self.schedules.lock();
        s.iter()
            .filter_map(|(id, e)| {
                let k = e.store_key.as_ref()?;
                let mut key = [0u8; GENERATED_KEY];
                (k.len() == GENERATED_KEY).then(|| key.copy_from_slice(k))?;
                Some(ScheduleRecord {
                    id: *id,
                    key,
                    function: Bytes::copy_from_slice(&e.name),
                    unique: Bytes::copy_from_slice(&e.unique),
                    data: e.data.clone(),
                    priority: e.priority,
                    schedule: e.schedule,
                })
            })
            .collect()
    }

    /// Forgets schedule `id` whose store add failed (no row to remove).
    pub(super) fn drop_schedule(&self, id: u64) {
        let removed = self.schedules.lock().remove(&id);
        if let Some(e) = removed {
            self.timers.remove(e.timer);
        }
    }

    pub(super) fn fire_schedule(&self, id: u64) {
        let (name, unique, data, priority, next) = {
            let s = self.schedules.lock();
            let Some(e) = s.get(&id) else { return };
            (
                e.name.clone(),
                e.unique.clone(),
                e.data.clone(),
                e.priority,
                e.schedule.next_after(sys::unix_now()),
            )
        };
        // A failure (queue full) skips this run; the schedule goes on.
        let _ = self.submit(
            None,
            SubmitRequest {
                function: &name,
                unique: &unique,
                workload: data,
                priority,
                background: true,
                ..Default::default()
            },
        );
        let mut wakers = Vec::new();
        let mut schedules = self.schedules.lock();
        match (next, schedules.get_mut(&id)) {
            (Some(t), Some(e)) => {
                e.timer = self.add_timer(unix_to_instant(t), TimerKind::Schedule(id), &mut wakers)
            }
            (None, Some(_)) => drop(schedules.remove(&id)),
            // Cancelled meanwhile.
            (_, None) => {}
        }
        drop(schedules);
        wake_all(wakers);
    }

    pub(super) fn cancel_schedule(&self, handle: &[u8]) -> bool {
        let Some(id) = self.parse_handle(handle) else {
            return false;
        };
        let removed = self.schedules.lock().remove(&id);
        match removed {
            Some(e) => {
                self.timers.remove(e.timer);
                self.unstore_schedule(e);
                true
            }
            None => false,
        }
    }

    /// Removes a schedule that is gone from the store, if it is there.
    pub(super) fn unstore_schedule(&self, e: ScheduleEntry) {
        if let (Some(k), Some(j)) = (e.store_key, self.journal.get()) {
            j.remove(FnName::Owned(Bytes::from(Vec::from(e.name))), k, false);
        }
    }
}

impl Server {
    /// Submits a recurring job: queued as a background job each minute that matches `schedule`
    /// in local time. Returns its number; `cancel_job` on its handle stops it.
    pub fn schedule(
        &self,
        function: &[u8],
        unique: &[u8],
        workload: Bytes,
        priority: Priority,
        schedule: Schedule,
    ) -> Result<u64> {
        self.check()?;
        // A sink of its own, to hear whether the store took it.
        let sink = Arc::new(SessionShared::new(0, PeerInfo::default(), false, 0));
        let (id, ticket) = self.inner.add_schedule(
            Some(&sink),
            function,
            unique,
            workload,
            priority,
            schedule,
            None,
        )?;
        if let (Some(seq), Some(j)) = (ticket, self.inner.journal.get()) {
            j.wait(seq);
            if let Some(why) = sink.acks.take_failure(seq) {
                return Err(Error::StoreFailed(why));
            }
        }
        Ok(id)
    }
}

fn unix_to_instant(t: u64) -> Instant {
    let now = sys::unix_now();
    Instant::now() + Duration::from_secs(t.saturating_sub(now))
}
