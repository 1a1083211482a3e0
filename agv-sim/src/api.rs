//! The RCS's HTTP API as the simulator uses it: the server key, enrollment, tasks.

use std::time::Duration;

use serde_json::{Value, json};

/// An API client with a bearer token.
#[derive(Debug, Clone)]
pub struct Api {
    base: String,
    token: String,
    http: reqwest::Client,
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
        Self {
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("a plain HTTP client builds"),
        }
    }

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

    /// The server's public key, SPKI PEM.
    pub async fn server_key(&self) -> Result<String, ApiError> {
        let r = self
            .http
            .get(format!("{}/api/v1/server-key", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok(Self::check(r).await?.text().await?)
    }

    /// Enrolls an AGV key.
    pub async fn enroll(&self, agv_id: u32, pem: &str) -> Result<(), ApiError> {
        let r = self
            .http
            .post(format!("{}/api/v1/agvs/enroll", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "agv_id": agv_id, "public_key_pem": pem }))
            .send()
            .await?;
        Self::check(r).await?;
        Ok(())
    }

    /// Submits a task (for a given AGV, or the dispatcher's choice); returns its id.
    pub async fn submit(
        &self,
        kind: &str,
        destination: u32,
        agv_id: Option<u32>,
    ) -> Result<u64, ApiError> {
        let r = self
            .http
            .post(format!("{}/api/v1/tasks", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "kind": kind, "destination": destination, "agv_id": agv_id }))
            .send()
            .await?;
        let v: Value = Self::check(r).await?.json().await?;
        Ok(v["id"].as_u64().unwrap_or(0))
    }

    /// The tasks still queued or running.
    pub async fn open_tasks(&self) -> Result<Vec<TaskView>, ApiError> {
        let r = self
            .http
            .get(format!("{}/api/v1/tasks?state=queued,running", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok(Self::check(r).await?.json().await?)
    }

    /// One task.
    pub async fn task(&self, id: u64) -> Result<TaskView, ApiError> {
        let r = self
            .http
            .get(format!("{}/api/v1/tasks/{id}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        Ok(Self::check(r).await?.json().await?)
    }

    /// Every piece of held space as (AGV, map, kind, id): footprints, reservations (a node id,
    /// or 2^40 + an edge id) and grants.
    pub async fn space(&self) -> Result<Vec<(u32, u16, String, Option<u64>)>, ApiError> {
        let r = self
            .http
            .get(format!("{}/api/v1/space", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let v: Value = Self::check(r).await?.json().await?;
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

    /// Sets (or clears) an AGV's secure-mode policy.
    pub async fn set_policy(&self, agv_id: u32, policy: Option<&str>) -> Result<(), ApiError> {
        let r = self
            .http
            .put(format!("{}/api/v1/agvs/{agv_id}/policy", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "secure": policy }))
            .send()
            .await?;
        Self::check(r).await?;
        Ok(())
    }

    /// A node position on `map` with room around it: 2 m on every side and 9 m to the east,
    /// nearest the map's middle row.
    pub async fn free_spot(&self, map: u16) -> Result<(f64, f64), ApiError> {
        let r = self
            .http
            .get(format!("{}/api/v1/maps/{map}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let v: Value = Self::check(r).await?.json().await?;
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
        let r = self
            .http
            .post(format!("{}/api/v1/agvs/{agv_id}/commands", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        Ok(r.status().as_u16())
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
    }
}
