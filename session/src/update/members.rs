//! Chat membership: member status changes and join requests.

use serde::{Deserialize, Serialize};

use super::string_enum::string_enum;
use super::{Chat, User};

/// A chat member's status changed (`my_chat_member` for the bot itself, `chat_member` for
/// others).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMemberUpdated {
    /// The chat the member belongs to.
    pub chat: Chat,
    /// Who performed the change. The member whose status changed is
    /// [`new_chat_member.user`](ChatMember::user), which may be someone else.
    pub from: User,
    /// Unix time of the change.
    pub date: i64,
    /// The member before the change.
    pub old_chat_member: ChatMember,
    /// The member after the change.
    pub new_chat_member: ChatMember,
    /// The invite link the user joined by, for joins through a link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<ChatInviteLink>,
    /// `Some(true)` when the user joined after a join request an administrator approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_join_request: Option<bool>,
    /// `Some(true)` when the user joined through a chat folder invite link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via_chat_folder_invite_link: Option<bool>,
}

/// A member of a chat (Bot API `ChatMember`, whose six variants are folded into one struct
/// told apart by [`status`](Self::status); fields of other variants are `None`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatMember {
    /// Owner, administrator, member, restricted, left or banned.
    pub status: ChatMemberStatus,
    /// The member.
    pub user: User,
    /// Owner and administrators: whether their presence in the chat is hidden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_anonymous: Option<bool>,
    /// Owner and administrators: custom title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_title: Option<String>,
    /// Restricted users: whether they are a member of the chat right now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_member: Option<bool>,
    /// Member (subscription), restricted and banned: Unix time the status ends; 0 for forever.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_date: Option<i64>,
    /// Administrators: whether the bot may edit their rights.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_be_edited: Option<bool>,
    /// Administrators: whether they may manage the chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_manage_chat: Option<bool>,
    /// Administrators: whether they may delete others' messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_delete_messages: Option<bool>,
    /// Administrators: whether they may restrict, ban or unban members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_restrict_members: Option<bool>,
    /// Administrators: whether they may add administrators.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_promote_members: Option<bool>,
    /// Restricted users: whether they may send text messages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_send_messages: Option<bool>,
}

string_enum! {
    /// The status of a chat member.
    pub enum ChatMemberStatus {
        /// The chat's owner.
        Creator = "creator",
        /// An administrator.
        Administrator = "administrator",
        /// A member with no special rights or restrictions.
        Member = "member",
        /// A member (or former member) under restrictions.
        Restricted = "restricted",
        /// Not a member, and not banned.
        Left = "left",
        /// Banned; cannot return until unbanned.
        Kicked = "kicked",
    }
    default = Member;
}

/// A request to join a chat, for chats that approve members.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatJoinRequest {
    /// The chat the user asked to join.
    pub chat: Chat,
    /// The user who asked.
    pub from: User,
    /// The private chat with the user, where the bot may write for 5 minutes (or until the
    /// request is processed).
    pub user_chat_id: i64,
    /// Unix time of the request.
    pub date: i64,
    /// The user's bio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bio: Option<String>,
    /// The invite link the request came through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invite_link: Option<ChatInviteLink>,
}

/// An invite link of a chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatInviteLink {
    /// The link (the middle part is replaced by `…` when the link was created by someone else).
    pub invite_link: String,
    /// Who created the link.
    pub creator: User,
    /// Whether users joining through the link must be approved.
    pub creates_join_request: bool,
    /// Whether this is the chat's primary link.
    pub is_primary: bool,
    /// Whether the link was revoked.
    pub is_revoked: bool,
    /// The link's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Unix time the link expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_date: Option<i64>,
    /// How many users may join through the link.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_limit: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_status_is_read_and_unknown_statuses_survive() {
        let member: ChatMember = serde_json::from_str(
            r#"{"status": "administrator", "user": {"id": 1, "is_bot": false, "first_name": "A"},
                "can_be_edited": false, "can_post_stories": true}"#,
        )
        .unwrap();
        assert_eq!(member.status, ChatMemberStatus::Administrator);

        let future: ChatMemberStatus = serde_json::from_str("\"observer\"").unwrap();
        assert_eq!(future, ChatMemberStatus::Other("observer".to_owned()));
    }
}
