//! The RCS's HTTP API as the simulator uses it: the server key, enrollment, tasks.
//!
//! The client may be given several base URLs, the instances of a cluster
//! (docs/architecture.md, "Several instances"): it sends each request to the one that answered
//! last and, when that one cannot be reached or answers 503 `standby`, goes on to the active
//! instance the standby names, else to the next URL of the list, each at most once per request.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// An API client with a bearer token, over one or several base URLs.
#[derive(Debug, Clone)]
pub struct Api {
    bases: Arc<Mutex<Bases>>,
    token: String,
    http: reqwest::Client,
    failovers: Arc<AtomicU64>,
}

/// The base URLs and the one in use.
#[derive(Debug)]
struct Bases {
    list: Vec<String>,
    current: usize,
}

/// An API call that failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Transport.
    #[error("{0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error.
    #[error("{status}: {body}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Its body.
        body: String,
    },
}

impl ApiError {
    /// What went wrong, as a stable code: the server's error code (the `error` of its JSON
    /// answer, `http_<status>` when it has none), or `api_unreachable` when no answer came.
    pub fn code(&self) -> String {
        match self {
            Self::Http(_) => "api_unreachable".into(),
            Self::Status { status, body } => serde_json::from_str::<Value>(body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| format!("http_{status}")),
        }
    }

    /// Whether no instance took the request: unreachable, or only standbys answered (worth
    /// trying again; the API may be back after a failover).
    pub fn unavailable(&self) -> bool {
        match self {
            Self::Http(_) => true,
            Self::Status { status, .. } => *status == 503 && self.code() == "standby",
        }
    }

    /// Whether the request may have reached a server that acted on it: the connection was lost
    /// after it was sent (a submission's outcome is then unknown).
    pub fn maybe_sent(&self) -> bool {
        matches!(self, Self::Http(e) if !e.is_connect() && !e.is_builder())
    }

    /// The active instance's base URL a standby names in its 503 `standby` answer (its
    /// `detail.active.http_address`, while its lease has not lapsed).
    pub fn active_named(&self) -> Option<String> {
        let Self::Status { status: 503, body } = self else {
            return None;
        };
        let v: Value = serde_json::from_str(body).ok()?;
        let active = &v["detail"]["active"];
        if v["error"] != "standby" || active["expires_in_ms"].as_i64().unwrap_or(0) <= 0 {
            return None;
        }
        active["http_address"]
            .as_str()
            .filter(|a| !a.is_empty())
            .map(|a| {
                if a.contains("://") {
                    a.trim_end_matches('/').to_owned()
                } else {
                    format!("http://{a}")
                }
            })
    }
}

/// A task as the API shows it (the fields the simulator follows).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct TaskView {
    /// Id.
    pub id: u64,
    /// `queued`, `running`, `completed`, `failed` or `cancelled`.
    pub state: String,
    /// The AGV doing it.
    #[serde(default)]
    pub agv: Option<u32>,
    /// The AGV asked for.
    #[serde(default)]
    pub requested_agv: Option<u32>,
    /// Why it failed.
    #[serde(default)]
    pub error: Option<String>,
    /// Why it waits, if it does (the server's structured reason).
    #[serde(default)]
    pub wait: Option<serde_json::Value>,
    /// Submitted at, UTC ms (the server's clock).
    #[serde(default)]
    pub created_at_ms: u64,
    /// Last change, UTC ms (for a finished task: when it ended).
    #[serde(default)]
    pub updated_at_ms: u64,
}

impl TaskView {
    /// Whether it is over (completed, failed or cancelled).
    pub fn finished(&self) -> bool {
        matches!(self.state.as_str(), "completed" | "failed" | "cancelled")
    }
}

impl Api {
    /// A client for `base` (`http://127.0.0.1:8080`).
    pub fn new(base: &str, token: &str) -> Self {
        Self::with_bases(&[base.to_owned()], token)
    }

    /// A client for the instances of a cluster at `bases`, tried in this order (an empty list:
    /// `http://127.0.0.1:8080`). With several, a request that gets no answer within 5 s goes on
    /// to the next (a stopped instance accepts connections and never answers); with one, within
    /// 30 s.
    pub fn with_bases(bases: &[String], token: &str) -> Self {
        let mut list: Vec<String> = bases
            .iter()
            .map(|b| b.trim().trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .collect();
        if list.is_empty() {
            list.push("http://127.0.0.1:8080".into());
        }
        let timeout = Duration::from_secs(if list.len() > 1 { 5 } else { 30 });
        Self {
            bases: Arc::new(Mutex::new(Bases { list, current: 0 })),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(timeout)
                .build()
                .expect("a plain HTTP client builds"),
            failovers: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The base URL in use (the one that answered last).
    pub fn base(&self) -> String {
        let b = self.bases.lock().expect("not poisoned");
        b.list[b.current].clone()
    }

    /// Whether it was given several base URLs (the instances of a cluster).
    pub fn is_cluster(&self) -> bool {
        self.bases.lock().expect("not poisoned").list.len() > 1
    }

    /// Times the client moved to another base URL (the one in use could not be reached or was a
    /// standby).
    pub fn failovers(&self) -> u64 {
        self.failovers.load(Ordering::Relaxed)
    }

    /// Sends the request `build` makes for a base URL: to the base in use, then on failure
    /// (unreachable, 503 `standby`) to the active instance a standby names, else to the next
    /// base of the list, each base at most once. The first answer that is not `standby` is
    /// checked ([`Self::check`]); when none came, the error that says most: one after which
    /// the request may have been acted on ([`ApiError::maybe_sent`]), else the last.
    async fn send(
        &self,
        build: impl Fn(&str) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let (list, start) = {
            let b = self.bases.lock().expect("not poisoned");
            (b.list.clone(), b.current)
        };
        let mut tried = HashSet::new();
        let mut base = list[start].clone();
        let mut uncertain = None;
        loop {
            tried.insert(base.clone());
            let error = match build(&base).bearer_auth(&self.token).send().await {
                Ok(r) => match Self::check(r).await {
                    Err(e) if e.unavailable() => e,
                    answer => {
                        self.settle(&base);
                        return answer;
                    }
                },
                Err(e) => ApiError::Http(e),
            };
            let next = error
                .active_named()
                .filter(|a| !tried.contains(a))
                .or_else(|| {
                    let at = list.iter().position(|b| *b == base).unwrap_or(start);
                    (1..=list.len())
                        .map(|i| &list[(at + i) % list.len()])
                        .find(|b| !tried.contains(*b))
                        .cloned()
                });
            let error = if error.maybe_sent() {
                uncertain = Some(error);
                None
            } else {
                Some(error)
            };
            match next {
                Some(n) => base = n,
                None => return Err(uncertain.or(error).expect("an error")),
            }
        }
    }

    /// The answer as is when it is a success, else its status and body as an error.
    async fn check(r: reqwest::Response) -> Result<reqwest::Response, ApiError> {
        if r.status().is_success() {
            Ok(r)
        } else {
            Err(ApiError::Status {
                status: r.status().as_u16(),
                body: r.text().await.unwrap_or_default(),
            })
        }
    }

    /// Makes `base` the one in use (adding it to the list if a standby named it), counting a
    /// failover when it changes.
    fn settle(&self, base: &str) {
        let mut b = self.bases.lock().expect("not poisoned");
        let at = match b.list.iter().position(|x| x == base) {
            Some(at) => at,
            None => {
                b.list.push(base.to_owned());
                b.list.len() - 1
            }
        };
        if at != b.current {
            b.current = at;
            self.failovers.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// The server's public key, SPKI PEM.
    pub async fn server_key(&self) -> Result<String, ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/server-key")))
            .await?;
        Ok(r.text().await?)
    }

    /// Enrolls an AGV key.
    pub async fn enroll(&self, agv_id: u32, pem: &str) -> Result<(), ApiError> {
        let body = json!({ "agv_id": agv_id, "public_key_pem": pem });
        self.send(|base| {
            self.http
                .post(format!("{base}/api/v1/agvs/enroll"))
                .json(&body)
        })
        .await?;
        Ok(())
    }

    /// Gives the VDA 5050 vehicle `manufacturer` / `serial_number` AGV id `agv_id`
    /// (`PUT /api/v1/vda5050/vehicles`).
    pub async fn set_vda5050_vehicle(
        &self,
        manufacturer: &str,
        serial_number: &str,
        agv_id: u32,
    ) -> Result<(), ApiError> {
        let body = json!({ "manufacturer": manufacturer, "serial_number": serial_number,
                           "agv_id": agv_id });
        self.send(|base| {
            self.http
                .put(format!("{base}/api/v1/vda5050/vehicles"))
                .json(&body)
        })
        .await?;
        Ok(())
    }

    /// Submits a task (for a given AGV, or the dispatcher's choice); returns its id. With a
    /// `reference` the submission is idempotent: submitted again (its outcome was unknown), the
    /// server answers the task the first one created.
    pub async fn submit(
        &self,
        kind: &str,
        destination: u32,
        agv_id: Option<u32>,
        reference: Option<&str>,
    ) -> Result<u64, ApiError> {
        let mut body = json!({ "kind": kind, "destination": destination, "agv_id": agv_id });
        if let Some(r) = reference {
            body["reference"] = json!(r);
        }
        let r = self
            .send(|base| self.http.post(format!("{base}/api/v1/tasks")).json(&body))
            .await?;
        let v: Value = r.json().await?;
        Ok(v["id"].as_u64().unwrap_or(0))
    }

    /// Cancels a task (`DELETE /api/v1/tasks/{id}`).
    pub async fn cancel_task(&self, id: u64) -> Result<(), ApiError> {
        self.send(|base| self.http.delete(format!("{base}/api/v1/tasks/{id}")))
            .await?;
        Ok(())
    }

    /// One AGV as the API shows it (`GET /api/v1/agvs/{id}`).
    pub async fn agv(&self, agv_id: u32) -> Result<Value, ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/agvs/{agv_id}")))
            .await?;
        Ok(r.json().await?)
    }

    /// The tasks still queued or running.
    pub async fn open_tasks(&self) -> Result<Vec<TaskView>, ApiError> {
        let r = self
            .send(|base| {
                self.http
                    .get(format!("{base}/api/v1/tasks?state=queued,running"))
            })
            .await?;
        Ok(r.json().await?)
    }

    /// One task.
    pub async fn task(&self, id: u64) -> Result<TaskView, ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/tasks/{id}")))
            .await?;
        Ok(r.json().await?)
    }

    /// Every piece of held space as (AGV, map, kind, id): footprints, reservations (a node id,
    /// or 2^40 + an edge id) and grants.
    pub async fn space(&self) -> Result<Vec<(u32, u16, String, Option<u64>)>, ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/space")))
            .await?;
        let v: Value = r.json().await?;
        Ok(v.as_array()
            .into_iter()
            .flatten()
            .map(|h| {
                (
                    h["agv_id"].as_u64().unwrap_or(0) as u32,
                    h["map_id"].as_u64().unwrap_or(0) as u16,
                    h["kind"].as_str().unwrap_or("").to_owned(),
                    h["id"].as_u64(),
                )
            })
            .collect())
    }

    /// The files of the site the server runs (`GET /api/v1/site/files`).
    pub async fn site_files(&self) -> Result<maps::file::SiteFiles, ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/site/files")))
            .await?;
        Ok(r.json().await?)
    }

    /// The token's name and role (`GET /api/v1/whoami`).
    pub async fn whoami(&self) -> Result<(String, String), ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/whoami")))
            .await?;
        let v: Value = r.json().await?;
        Ok((
            v["name"].as_str().unwrap_or_default().to_owned(),
            v["role"].as_str().unwrap_or_default().to_owned(),
        ))
    }

    /// Decommissions an offline AGV (admin): `Ok(true)` when it was, `Ok(false)` when the
    /// server does not know it (404 `unknown_agv`); a refusal (409: online, tasks, grants) is
    /// an error with its body.
    pub async fn decommission(&self, agv_id: u32) -> Result<bool, ApiError> {
        match self
            .send(|base| self.http.delete(format!("{base}/api/v1/agvs/{agv_id}")))
            .await
        {
            Ok(_) => Ok(true),
            Err(ApiError::Status { status: 404, body }) if body.contains("unknown_agv") => {
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Sets (or clears) an AGV's secure-mode policy.
    pub async fn set_policy(&self, agv_id: u32, policy: Option<&str>) -> Result<(), ApiError> {
        let body = json!({ "secure": policy });
        self.send(|base| {
            self.http
                .put(format!("{base}/api/v1/agvs/{agv_id}/policy"))
                .json(&body)
        })
        .await?;
        Ok(())
    }

    /// A node position on `map` with room around it: 2 m on every side and 9 m to the east,
    /// nearest the map's middle row.
    pub async fn free_spot(&self, map: u16) -> Result<(f64, f64), ApiError> {
        let r = self
            .send(|base| self.http.get(format!("{base}/api/v1/maps/{map}")))
            .await?;
        let v: Value = r.json().await?;
        let b: Vec<f64> = v["bounds"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
            .collect();
        let (x0, y0, x1, y1) = (b[0], b[1], b[2], b[3]);
        let mid = (y0 + y1) / 2.0;
        v["node_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["x"].as_f64()?, n["y"].as_f64()?)))
            .filter(|(x, y)| *x - 2.0 >= x0 && *x + 9.0 <= x1 && *y - 2.0 >= y0 && *y + 2.0 <= y1)
            .min_by(|a, b| {
                ((a.1 - mid).abs(), a.0)
                    .partial_cmp(&((b.1 - mid).abs(), b.0))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .ok_or_else(|| ApiError::Status {
                status: 404,
                body: "no free spot on the map".into(),
            })
    }

    /// Sends an operator command to an AGV (`{"command": ...}`); returns the HTTP status.
    pub async fn command(&self, agv_id: u32, body: &Value) -> Result<u16, ApiError> {
        let sent = self
            .send(|base| {
                self.http
                    .post(format!("{base}/api/v1/agvs/{agv_id}/commands"))
                    .json(body)
            })
            .await;
        match sent {
            Ok(r) => Ok(r.status().as_u16()),
            Err(ApiError::Status { status, .. }) => Ok(status),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_counted_by_the_servers_code() {
        let refused = ApiError::Status {
            status: 400,
            body: r#"{"error":"destination_lift_door","message":"node 7 is a lift door"}"#.into(),
        };
        assert_eq!(refused.code(), "destination_lift_door");
        let bare = ApiError::Status {
            status: 502,
            body: "Bad Gateway".into(),
        };
        assert_eq!(bare.code(), "http_502");
        assert!(!refused.unavailable() && !bare.unavailable());
    }

    #[test]
    fn a_standby_names_the_active_instance_while_its_lease_holds() {
        let standby = |expires: i64| ApiError::Status {
            status: 503,
            body: json!({
                "error": "standby",
                "message": "this instance is a standby",
                "detail": { "active": {
                    "id": "b", "agv_address": "127.0.0.1:7702",
                    "http_address": "127.0.0.1:8082", "epoch": 4, "expires_in_ms": expires,
                } },
            })
            .to_string(),
        };
        assert!(standby(900).unavailable());
        assert_eq!(
            standby(900).active_named().as_deref(),
            Some("http://127.0.0.1:8082")
        );
        // a lapsed lease names nobody: the next URL of the list is tried
        assert_eq!(standby(-5).active_named(), None);
        let none = ApiError::Status {
            status: 503,
            body: r#"{"error":"standby","message":"no instance is active"}"#.into(),
        };
        assert!(none.unavailable());
        assert_eq!(none.active_named(), None);
        // another 503 is an answer, not a standby
        let busy = ApiError::Status {
            status: 503,
            body: r#"{"error":"overloaded","message":"later"}"#.into(),
        };
        assert!(!busy.unavailable());
    }

    #[tokio::test]
    async fn requests_go_on_to_the_next_url_and_stay_there() {
        // the first URL is a closed port, the second a one-shot HTTP server
        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let closed_url = format!("http://{}", closed.local_addr().unwrap());
        drop(closed);
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", server.local_addr().unwrap());
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            loop {
                let (mut s, _) = server.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = "PEM";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(answer.as_bytes()).await;
            }
        });
        let api = Api::with_bases(&[closed_url, url.clone()], "t");
        assert_eq!(api.server_key().await.unwrap(), "PEM");
        assert_eq!(api.base(), url);
        assert_eq!(api.failovers(), 1);
        assert_eq!(api.server_key().await.unwrap(), "PEM");
        assert_eq!(api.failovers(), 1);
    }
}
