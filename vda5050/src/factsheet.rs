//! `factsheet`: what a vehicle is: its type, size, speeds and the actions it can run. rcs reads
//! the parts that decide where the vehicle fits (its footprint) and how fast it may go; the
//! simulated vehicle writes a minimal factsheet of its version (every field its schema requires).

use serde_json::{Value, json};

use crate::MessageError;
use crate::header::Header;
use crate::version::Version;

/// A vehicle's factsheet, as much of it as rcs uses.
#[derive(Debug, Clone, PartialEq)]
pub struct Factsheet {
    /// The header (2.1 leaves `headerId` and `timestamp` optional: read as 0 and empty).
    pub header: Header,
    /// The vehicle's series (model).
    pub series_name: String,
    /// Its kinematics (`DIFF`, `OMNI`, `THREEWHEEL`, ...), as written.
    pub kinematics: Option<String>,
    /// Its class (`FORKLIFT`, `CARRIER`, ...), as written.
    pub class: String,
    /// kg.
    pub max_load_kg: f64,
    /// How it localises (`NATURAL`, `REFLECTOR`, `DMC`, ...).
    pub localization_types: Vec<String>,
    /// How it navigates (`AUTONOMOUS` / `FREELY_NAVIGATING`, line guided, ...).
    pub navigation_types: Vec<String>,
    /// Its length, m (the bounding box).
    pub length: f64,
    /// Its width, m.
    pub width: f64,
    /// Its greatest height, m.
    pub height_max: f64,
    /// Its top speed, m/s.
    pub speed_max: f64,
    /// m/s².
    pub acceleration_max: f64,
    /// m/s².
    pub deceleration_max: f64,
    /// The action types it runs (`pick`, `drop`, `startPause`, ...).
    pub actions: Vec<String>,
}

/// The field names that 3.0 changed.
struct Names {
    kinematic: &'static str,
    class: &'static str,
    load: &'static str,
    speed: &'static str,
    accel: &'static str,
    decel: &'static str,
    height: &'static str,
    speed_min: &'static str,
    height_min: &'static str,
    actions: &'static str,
}

/// The names of 3.0 (`v3`) or 2.x.
fn names(v3: bool) -> Names {
    if v3 {
        Names {
            kinematic: "mobileRobotKinematics",
            class: "mobileRobotClass",
            load: "maximumLoadMass",
            speed: "maximumSpeed",
            accel: "maximumAcceleration",
            decel: "maximumDeceleration",
            height: "maximumHeight",
            speed_min: "minimumSpeed",
            height_min: "minimumHeight",
            actions: "mobileRobotActions",
        }
    } else {
        Names {
            kinematic: "agvKinematic",
            class: "agvClass",
            load: "maxLoadMass",
            speed: "speedMax",
            accel: "accelerationMax",
            decel: "decelerationMax",
            height: "heightMax",
            speed_min: "speedMin",
            height_min: "heightMin",
            actions: "agvActions",
        }
    }
}

fn invalid(field: &str, reason: &str) -> MessageError {
    MessageError::Invalid {
        field: field.to_owned(),
        reason: reason.to_owned(),
    }
}

impl Factsheet {
    /// Reads a factsheet; refused when a field rcs uses is missing, of the wrong type, or not a
    /// plausible size (length and width above 0, finite).
    pub fn from_json(bytes: &[u8]) -> Result<Factsheet, MessageError> {
        let v: Value = serde_json::from_slice(bytes)?;
        let text = |path: &[&str]| -> Result<String, MessageError> {
            path.iter()
                .try_fold(&v, |v, k| v.get(k))
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| invalid(&path.join("."), "a string is required"))
        };
        let version_text = text(&["version"])?;
        let version = Version::parse(&version_text)?;
        let v3 = version == Version::V3_0;
        let n = names(v3);
        let number = |section: &str, key: &str| -> Result<f64, MessageError> {
            v.get(section)
                .and_then(|s| s.get(key))
                .and_then(Value::as_f64)
                .filter(|n| n.is_finite())
                .ok_or_else(|| invalid(&format!("{section}.{key}"), "a finite number is required"))
        };
        let list = |section: &str, key: &str| -> Result<Vec<String>, MessageError> {
            let items = v
                .get(section)
                .and_then(|s| s.get(key))
                .and_then(Value::as_array)
                .ok_or_else(|| invalid(&format!("{section}.{key}"), "a list is required"))?;
            items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(&format!("{section}.{key}"), "a list of strings"))
        };
        let header = Header {
            header_id: v
                .get("headerId")
                .and_then(Value::as_u64)
                .and_then(|h| u32::try_from(h).ok())
                .unwrap_or(0),
            timestamp: v
                .get("timestamp")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            version: version_text,
            manufacturer: text(&["manufacturer"])?,
            serial_number: text(&["serialNumber"])?,
        };
        let action_types = v
            .get("protocolFeatures")
            .and_then(|p| p.get(n.actions))
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|a| a.get("actionType").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        let sheet = Factsheet {
            header,
            series_name: text(&["typeSpecification", "seriesName"])?,
            kinematics: text(&["typeSpecification", n.kinematic])
                .or_else(|_| text(&["typeSpecification", "mobileRobotKinematic"]))
                .ok(),
            class: text(&["typeSpecification", n.class])?,
            max_load_kg: number("typeSpecification", n.load)?,
            localization_types: list("typeSpecification", "localizationTypes")?,
            navigation_types: list("typeSpecification", "navigationTypes")?,
            length: number("physicalParameters", "length")?,
            width: number("physicalParameters", "width")?,
            height_max: number("physicalParameters", n.height)?,
            speed_max: number("physicalParameters", n.speed)?,
            acceleration_max: number("physicalParameters", n.accel)?,
            deceleration_max: number("physicalParameters", n.decel)?,
            actions: action_types,
        };
        if sheet.length <= 0.0 || sheet.width <= 0.0 || sheet.height_max < 0.0 {
            return Err(invalid(
                "physicalParameters",
                "a length and a width above 0, a height of 0 or more",
            ));
        }
        Ok(sheet)
    }

    /// The guide footprint of the vehicle: its bounding box centred on its reference point
    /// (the factsheet's `length` and `width`; VDA 5050's envelopes, which could say more, are
    /// not read).
    pub fn footprint(&self) -> protocol::message::Footprint {
        let (half_length, half_width) = ((self.length / 2.0) as f32, (self.width / 2.0) as f32);
        protocol::message::Footprint {
            front: half_length,
            rear: half_length,
            left: half_width,
            right: half_width,
            height: self.height_max as f32,
        }
    }

    /// A minimal factsheet of the header's version: the fields rcs reads and what the version's
    /// schema requires besides (empty geometry and load sets, no optional parameters).
    pub fn to_json(&self) -> Result<Vec<u8>, MessageError> {
        let version = self.header.version()?;
        let v3 = version == Version::V3_0;
        let n = names(v3);
        let mut type_spec = json!({
            "seriesName": self.series_name,
            "localizationTypes": self.localization_types,
            "navigationTypes": self.navigation_types,
        });
        type_spec[n.class] = json!(self.class);
        type_spec[n.load] = json!(self.max_load_kg);
        if let Some(k) = &self.kinematics {
            type_spec[n.kinematic] = json!(k);
            if v3 {
                // 3.0.0's schema requires `mobileRobotKinematic` but defines
                // `mobileRobotKinematics`: both are written, either is read
                type_spec["mobileRobotKinematic"] = json!(k);
            }
        }
        let mut physical = json!({ "length": self.length, "width": self.width });
        physical[n.speed] = json!(self.speed_max);
        physical[n.speed_min] = json!(0.0);
        physical[n.accel] = json!(self.acceleration_max);
        physical[n.decel] = json!(self.deceleration_max);
        physical[n.height] = json!(self.height_max);
        physical[n.height_min] = json!(0.0);
        let action_list: Vec<Value> = self
            .actions
            .iter()
            .map(|a| {
                let mut action = json!({ "actionType": a, "actionScopes": ["NODE", "INSTANT"] });
                if v3 {
                    action["cancelAllowed"] = json!("NONE");
                    action["pauseAllowed"] = json!("NONE");
                }
                action
            })
            .collect();
        let mut features = json!({ "optionalParameters": [] });
        features[n.actions] = json!(action_list);
        let (arrays, strings, order_interval, state_interval) = if v3 {
            (
                "maximumArrayLengths",
                "maximumStringLengths",
                "minimumOrderInterval",
                "minimumStateInterval",
            )
        } else {
            (
                "maxArrayLens",
                "maxStringLens",
                "minOrderInterval",
                "minStateInterval",
            )
        };
        let mut limits = json!({ "timing": {} });
        limits[arrays] = json!({});
        limits[strings] = json!({});
        limits["timing"][order_interval] = json!(0.1);
        limits["timing"][state_interval] = json!(0.1);
        let mut sheet = serde_json::to_value(&self.header)?;
        sheet["typeSpecification"] = type_spec;
        sheet["physicalParameters"] = physical;
        sheet["protocolLimits"] = limits;
        sheet["protocolFeatures"] = features;
        sheet["loadSpecification"] = json!({});
        sheet[if v3 {
            "mobileRobotGeometry"
        } else {
            "agvGeometry"
        }] = json!({});
        Ok(serde_json::to_vec(&sheet)?)
    }
}
