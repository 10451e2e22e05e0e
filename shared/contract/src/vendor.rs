use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A push vendor. The name is what appears in queue names, routing keys, configuration and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    Fcm,
    Apns,
    Huawei,
    Xiaomi,
    Oppo,
    Vivo,
    Honor,
}

impl Vendor {
    pub const ALL: [Vendor; 7] = [
        Vendor::Fcm,
        Vendor::Apns,
        Vendor::Huawei,
        Vendor::Xiaomi,
        Vendor::Oppo,
        Vendor::Vivo,
        Vendor::Honor,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Fcm => "fcm",
            Vendor::Apns => "apns",
            Vendor::Huawei => "huawei",
            Vendor::Xiaomi => "xiaomi",
            Vendor::Oppo => "oppo",
            Vendor::Vivo => "vivo",
            Vendor::Honor => "honor",
        }
    }

    /// The vendor's dispatcher: its binary, its log and store name.
    pub fn dispatcher(self) -> &'static str {
        match self {
            Vendor::Fcm => "dispatch-fcm",
            Vendor::Apns => "dispatch-apns",
            Vendor::Huawei => "dispatch-huawei",
            Vendor::Xiaomi => "dispatch-xiaomi",
            Vendor::Oppo => "dispatch-oppo",
            Vendor::Vivo => "dispatch-vivo",
            Vendor::Honor => "dispatch-honor",
        }
    }
}

impl fmt::Display for Vendor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown vendor `{0}`: expected one of fcm, apns, huawei, xiaomi, oppo, vivo, honor")]
pub struct UnknownVendor(pub String);

impl FromStr for Vendor {
    type Err = UnknownVendor;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Vendor::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| UnknownVendor(s.to_owned()))
    }
}
