//! The media and attachments a message can carry, modelled lightly: the ids a bot needs to
//! download or resend a file, and the few details bots commonly read.

use serde::{Deserialize, Serialize};

/// One size of a photo or thumbnail.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PhotoSize {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A general file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Document {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Original file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// MIME type as the sender declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// An animation (GIF or H.264/MPEG-4 AVC video without sound).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Animation {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// Duration in seconds.
    pub duration: i64,
    /// Original file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// MIME type as the sender declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// An audio file to be treated as music.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Audio {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Duration in seconds.
    pub duration: i64,
    /// Performer, as in the file's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performer: Option<String>,
    /// Title, as in the file's tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Original file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// MIME type as the sender declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A video file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Video {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// Duration in seconds.
    pub duration: i64,
    /// Original file name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    /// MIME type as the sender declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A round video message.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoNote {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Width and height (diameter) in pixels.
    pub length: i64,
    /// Duration in seconds.
    pub duration: i64,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A voice note.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Voice {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// Duration in seconds.
    pub duration: i64,
    /// MIME type as the sender declared it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A sticker.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sticker {
    /// Identifier for downloading or resending the file.
    pub file_id: String,
    /// Identifier stable over time and across bots; cannot download the file.
    pub file_unique_id: String,
    /// `"regular"`, `"mask"` or `"custom_emoji"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Width in pixels.
    pub width: i64,
    /// Height in pixels.
    pub height: i64,
    /// Whether the sticker is animated.
    pub is_animated: bool,
    /// Whether the sticker is a video sticker.
    pub is_video: bool,
    /// The emoji the sticker stands for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emoji: Option<String>,
    /// The sticker set's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_name: Option<String>,
    /// Size in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_size: Option<i64>,
}

/// A phone contact.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contact {
    /// Phone number.
    pub phone_number: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// The contact's Telegram user id, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// Additional data as a vCard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcard: Option<String>,
}

/// A point on the map.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Location {
    /// Latitude.
    pub latitude: f64,
    /// Longitude.
    pub longitude: f64,
    /// Radius of uncertainty, in metres (0-1500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub horizontal_accuracy: Option<f64>,
    /// For live locations: how long, in seconds, the location can be updated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_period: Option<i64>,
}
