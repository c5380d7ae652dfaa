//! The D-Bus calls of the systemd driver (zbus over async-io, driven to
//! completion on the calling thread by `zbus::block_on`; no tokio):
//! StartTransientUnit and the wait for its job, StopUnit, ResetFailedUnit,
//! SetUnitProperties, the manager's Version.
//!
//! The connection goes to the system bus, or, for root when no bus daemon
//! answers, straight to systemd's private socket (`/run/systemd/private`,
//! as systemctl and runc's D-Bus library do), so a minimal systemd host
//! without dbus works too. zbus runs its socket reader on a thread of its
//! own: the runtime makes the connection only after the init is cloned, so
//! no fork happens from a multi-threaded runtime (§2.1).

use std::cell::Cell;
use std::time::Duration;

use futures_lite::StreamExt;
use zbus::zvariant::{OwnedObjectPath, Value as Variant};
use zbus::{Connection, MatchRule, MessageStream};

use super::props::{Prop, Value};
use crate::cgroups::error::{CgroupError, Result};

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";
const PRIVATE_SOCKET: &str = "unix:path=/run/systemd/private";
/// How long a unit's start or stop job may take (runc's 30 s).
pub const JOB_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to systemd's manager.
pub struct Bus {
    conn: Connection,
    version: Option<u32>,
}

fn bus_error(what: String) -> impl FnOnce(zbus::Error) -> CgroupError {
    move |e| CgroupError::Bus {
        what,
        reason: e.to_string(),
    }
}

/// The D-Bus error name of a failed call, if it is one.
fn error_name(e: &zbus::Error) -> Option<&str> {
    match e {
        zbus::Error::MethodError(name, _, _) => Some(name.as_str()),
        _ => None,
    }
}

/// StartTransientUnit's answer when a unit of that name is loaded already.
fn is_unit_exists(e: &zbus::Error) -> bool {
    error_name(e) == Some("org.freedesktop.systemd1.UnitExists")
}

/// A StopUnit error that means there is nothing to stop: systemd knows no
/// unit of that name, or refuses the name (a scope name systemd reads as a
/// template instance: the create that asked for it failed the same way).
fn no_unit(e: &zbus::Error) -> bool {
    matches!(
        error_name(e),
        Some("org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.DBus.Error.InvalidArgs")
    )
}

impl Bus {
    pub fn connect() -> Result<Bus> {
        let conn = zbus::block_on(connect())?;
        Ok(Bus {
            conn,
            version: None,
        })
    }

    /// systemd's version (e.g. 252 for "252.38-1~deb12u1"), asked once;
    /// 0 when unknown, which turns the newer properties off.
    pub fn version(&mut self) -> u32 {
        if let Some(v) = self.version {
            return v;
        }
        let v = match zbus::block_on(self.manager_version()) {
            Ok(s) => parse_version(&s),
            Err(e) => {
                tracing::warn!("systemd's version: {e}");
                0
            }
        };
        self.version = Some(v);
        v
    }

    /// Starts the transient unit `unit` (in `slice`, named in the error
    /// when systemd refuses it) and waits for its job to finish. A failed
    /// unit of the same name (a container's that systemd kept) is reset and
    /// the start tried once more, as runc does; a unit that still exists
    /// then is another container's (`CgroupError::UnitExists`). `claimed`
    /// is set once systemd accepted the start: from then on the unit is
    /// this container's, whatever the job's outcome.
    pub fn start(
        &self,
        unit: &str,
        slice: &str,
        props: &[Prop],
        claimed: &Cell<bool>,
    ) -> Result<()> {
        zbus::block_on(async {
            match self.start_once(unit, props, claimed).await {
                Err(e) if is_unit_exists(&e) => {
                    self.reset_failed(unit).await;
                    self.start_once(unit, props, claimed).await
                }
                r => r,
            }
            .map_err(|e| match is_unit_exists(&e) {
                true => CgroupError::UnitExists {
                    unit: unit.to_string(),
                    slice: slice.to_string(),
                    reason: e.to_string(),
                },
                false => bus_error(format!("unable to start unit {unit:?} in slice {slice:?}"))(e),
            })?
        })
    }

    async fn start_once(
        &self,
        unit: &str,
        props: &[Prop],
        claimed: &Cell<bool>,
    ) -> zbus::Result<Result<()>> {
        let mut jobs = self.job_stream().await?;
        let aux: Vec<(&str, Vec<(&str, Variant)>)> = Vec::new();
        let body = (unit, "replace", variants(props), aux);
        let job = self.call("StartTransientUnit", &body).await?;
        claimed.set(true);
        Ok(match wait_job(&mut jobs, &job).await {
            Ok(r) if r == "done" => Ok(()),
            Ok(r) => {
                self.reset_failed(unit).await;
                Err(CgroupError::UnitJob {
                    unit: unit.to_string(),
                    result: r,
                })
            }
            Err(e) => {
                self.reset_failed(unit).await;
                Err(e(unit, "create"))
            }
        })
    }

    /// Stops `unit` and waits for the job; a unit systemd already dropped
    /// (an empty scope is collected at once) is fine. A failed one is reset
    /// so that systemd forgets it.
    pub fn stop(&self, unit: &str) -> Result<()> {
        zbus::block_on(async {
            let mut jobs = self
                .job_stream()
                .await
                .map_err(bus_error(format!("stop unit {unit:?}")))?;
            let r = match self.call("StopUnit", &(unit, "replace")).await {
                Ok(job) => match wait_job(&mut jobs, &job).await {
                    Ok(r) if r == "done" => Ok(()),
                    Ok(r) => {
                        tracing::warn!("stopping unit {unit}: job {r}; continuing");
                        Ok(())
                    }
                    Err(e) => Err(e(unit, "remove")),
                },
                // No such unit, or a name systemd refuses (so it has none).
                Err(e) if no_unit(&e) => Ok(()),
                Err(e) => Err(bus_error(format!("stop unit {unit:?}"))(e)),
            };
            self.reset_failed(unit).await;
            r
        })
    }

    /// Changes a running unit's properties (`update`), for its lifetime.
    pub fn set(&self, unit: &str, props: &[Prop]) -> Result<()> {
        if props.is_empty() {
            return Ok(());
        }
        let body = (unit, true, variants(props));
        zbus::block_on(self.conn.call_method(
            Some(DEST),
            PATH,
            Some(MANAGER),
            "SetUnitProperties",
            &body,
        ))
        .map(drop)
        .map_err(bus_error(format!("set properties of unit {unit:?}")))
    }

    async fn reset_failed(&self, unit: &str) {
        let r = self
            .conn
            .call_method(Some(DEST), PATH, Some(MANAGER), "ResetFailedUnit", &(unit,))
            .await;
        if let Err(e) = r {
            tracing::debug!("reset-failed {unit}: {e}");
        }
    }

    /// A method of the manager that returns a job's object path.
    async fn call<B>(&self, method: &str, body: &B) -> zbus::Result<OwnedObjectPath>
    where
        B: serde::Serialize + zbus::zvariant::DynamicType,
    {
        let reply = self
            .conn
            .call_method(Some(DEST), PATH, Some(MANAGER), method, body)
            .await?;
        reply.body().deserialize::<OwnedObjectPath>()
    }

    /// The manager's JobRemoved signals, subscribed before the job exists
    /// so its end cannot be missed. systemd sends it to the client that
    /// queued the job without a Subscribe call.
    async fn job_stream(&self) -> zbus::Result<MessageStream> {
        let mut rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .path(PATH)?
            .interface(MANAGER)?
            .member("JobRemoved")?;
        if self.conn.is_bus() {
            rule = rule.sender(DEST)?;
        }
        MessageStream::for_match_rule(rule.build(), &self.conn, Some(64)).await
    }

    async fn manager_version(&self) -> zbus::Result<String> {
        let reply = self
            .conn
            .call_method(
                Some(DEST),
                PATH,
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &(MANAGER, "Version"),
            )
            .await?;
        let v: zbus::zvariant::OwnedValue = reply.body().deserialize()?;
        String::try_from(v).map_err(zbus::Error::from)
    }
}

async fn connect() -> Result<Connection> {
    let bus = Connection::system().await;
    match bus {
        Ok(c) => Ok(c),
        Err(e) if crate::sys::exec_euid() == 0 => {
            tracing::debug!("system bus: {e}; trying systemd's private socket");
            let c = zbus::connection::Builder::address(PRIVATE_SOCKET)
                .map(|b| b.p2p())
                .map_err(bus_error("connect to systemd".into()))?
                .build()
                .await;
            c.map_err(|e2| CgroupError::Bus {
                what: "connect to systemd".into(),
                reason: format!("system bus: {e}; {PRIVATE_SOCKET}: {e2}"),
            })
        }
        Err(e) => Err(bus_error("connect to the system bus".into())(e)),
    }
}

/// What a job wait ends with, short of a result: the error for `unit` and
/// the verb ("create", "remove").
type WaitFailure = fn(&str, &str) -> CgroupError;

/// Waits (bounded) for the JobRemoved of `job`: its result ("done",
/// "failed", "canceled", ...).
async fn wait_job(
    jobs: &mut MessageStream,
    job: &OwnedObjectPath,
) -> std::result::Result<String, WaitFailure> {
    let wait = async {
        while let Some(Ok(msg)) = jobs.next().await {
            let body = msg.body();
            let Ok((_, path, _, result)) =
                body.deserialize::<(u32, OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if path == *job {
                return Ok(result);
            }
        }
        Err((|unit, verb| CgroupError::Bus {
            what: format!("wait for systemd to {verb} {unit}"),
            reason: "the connection closed".into(),
        }) as WaitFailure)
    };
    let timeout = async {
        async_io::Timer::after(JOB_TIMEOUT).await;
        Err((|unit, verb| CgroupError::UnitTimeout {
            unit: unit.to_string(),
            verb: verb.to_string(),
        }) as WaitFailure)
    };
    futures_lite::future::or(wait, timeout).await
}

/// The properties as D-Bus `a(sv)`.
fn variants(props: &[Prop]) -> Vec<(&str, Variant<'_>)> {
    props
        .iter()
        .map(|p| {
            let v = match &p.value {
                Value::Bool(b) => Variant::from(*b),
                Value::U64(n) => Variant::from(*n),
                Value::Str(s) => Variant::from(s.as_str()),
                Value::Bytes(b) => Variant::from(b.clone()),
                Value::U32s(v) => Variant::from(v.clone()),
                Value::PathPerms(v) => Variant::from(v.clone()),
            };
            (p.name, v)
        })
        .collect()
}

/// The leading number of systemd's version string ("252.38-1~deb12u1",
/// "v245.4-1.fc32", "\"245\""); 0 when there is none.
fn parse_version(s: &str) -> u32 {
    let s = s.trim_start_matches(['"', 'v']);
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    s[..end].parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::zvariant::{DynamicType, Type};

    #[test]
    fn versions() {
        assert_eq!(parse_version("252.38-1~deb12u1"), 252);
        assert_eq!(parse_version("v245.4-1.fc32"), 245);
        assert_eq!(parse_version("\"245\""), 245);
        assert_eq!(parse_version("unknown"), 0);
    }

    #[test]
    fn properties_have_systemds_signatures() {
        let props = [
            Prop {
                name: "Delegate",
                value: Value::Bool(true),
            },
            Prop {
                name: "MemoryMax",
                value: Value::U64(7),
            },
            Prop {
                name: "Slice",
                value: Value::Str("a.slice".into()),
            },
            Prop {
                name: "AllowedCPUs",
                value: Value::Bytes(vec![3]),
            },
            Prop {
                name: "PIDs",
                value: Value::U32s(vec![42]),
            },
        ];
        let v = variants(&props);
        let sigs: Vec<String> = v
            .iter()
            .map(|(_, v)| v.value_signature().to_string())
            .collect();
        assert_eq!(sigs, ["b", "t", "s", "ay", "au"]);
        // The whole StartTransientUnit body: a tuple is the argument list
        // (zbus drops the outer parentheses from a message body).
        let aux: Vec<(&str, Vec<(&str, Variant)>)> = Vec::new();
        let body = ("u.scope", "replace", v, aux);
        assert_eq!(body.signature().to_string(), "(ssa(sv)a(sa(sv)))");
        assert_eq!(
            <(u32, OwnedObjectPath, String, String)>::SIGNATURE.to_string(),
            "(uoss)"
        );
    }
}
