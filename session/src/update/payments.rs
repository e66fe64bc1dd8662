//! Payments: shipping and pre-checkout queries, paid media purchases, successful payments.

use serde::{Deserialize, Serialize};

use super::User;

/// A shipping query, for invoices with a flexible price.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShippingQuery {
    /// Identifier, for `answerShippingQuery`.
    pub id: String,
    /// The user who sent the query.
    pub from: User,
    /// The payload the bot put in the invoice.
    pub invoice_payload: String,
    /// The shipping address the user entered.
    pub shipping_address: ShippingAddress,
}

/// A shipping address.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ShippingAddress {
    /// Two-letter ISO 3166-1 alpha-2 country code.
    pub country_code: String,
    /// State, if applicable.
    pub state: String,
    /// City.
    pub city: String,
    /// First line of the address.
    pub street_line1: String,
    /// Second line of the address.
    pub street_line2: String,
    /// Post code.
    pub post_code: String,
}

/// A pre-checkout query: the user confirmed the payment; the bot must answer within 10 s.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PreCheckoutQuery {
    /// Identifier, for `answerPreCheckoutQuery`.
    pub id: String,
    /// The user who sent the query.
    pub from: User,
    /// Three-letter ISO 4217 currency code, or `"XTR"` for Telegram Stars.
    pub currency: String,
    /// Total price in the smallest units of the currency.
    pub total_amount: i64,
    /// The payload the bot put in the invoice.
    pub invoice_payload: String,
    /// The shipping option the user chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option_id: Option<String>,
    /// The order information the user provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_info: Option<OrderInfo>,
}

/// Order information a user provided for a payment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OrderInfo {
    /// Name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Phone number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Shipping address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_address: Option<ShippingAddress>,
}

/// A successful payment (the `successful_payment` service message).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SuccessfulPayment {
    /// Three-letter ISO 4217 currency code, or `"XTR"` for Telegram Stars.
    pub currency: String,
    /// Total price in the smallest units of the currency.
    pub total_amount: i64,
    /// The payload the bot put in the invoice.
    pub invoice_payload: String,
    /// For subscriptions: Unix time the subscription expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_expiration_date: Option<i64>,
    /// `Some(true)` for a recurring payment of a subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_recurring: Option<bool>,
    /// `Some(true)` for the first payment of a subscription.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_first_recurring: Option<bool>,
    /// The shipping option the user chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shipping_option_id: Option<String>,
    /// The order information the user provided.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_info: Option<OrderInfo>,
    /// Telegram's payment identifier (for refunds).
    pub telegram_payment_charge_id: String,
    /// The payment provider's identifier.
    pub provider_payment_charge_id: String,
}

/// A user bought paid media the bot sent with a payload, in a non-channel chat.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaidMediaPurchased {
    /// The user who bought the media.
    pub from: User,
    /// The payload the bot attached to the paid media.
    pub paid_media_payload: String,
}
