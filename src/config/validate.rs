//! [`Config::validate`]: every value checked against its valid range, by area, with
//! messages that name the field and the range.

use super::{Config, ConfigError};

/// `Ok` if `ok`, else the invalid-configuration error `what`.
fn check(ok: bool, what: &str) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::Invalid(what.to_string()))
    }
}

/// `*`, or what a browser sends as `Origin`: `http(s)://host[:port]` and nothing after.
fn is_origin(origin: &str) -> bool {
    if origin == "*" {
        return true;
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    !scheme.is_empty()
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
}

impl Config {
    /// Checks every value is in its valid range.
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_ticks_and_stores()?;
        self.validate_input_limits()?;
        self.validate_connections()?;
        self.validate_abuse()?;
        self.validate_interest()?;
        self.validate_accounts_and_uploads()?;
        Ok(())
    }

    /// The tick, the flushes and the stores.
    fn validate_ticks_and_stores(&self) -> Result<(), ConfigError> {
        check(
            (1..=240).contains(&self.tick_rate_hz),
            "tick_rate_hz must be between 1 and 240",
        )?;
        check(
            (1..=60_000).contains(&self.flush_interval_ms),
            "flush_interval_ms must be between 1 and 60000",
        )?;
        check(
            self.max_batch_rows >= 1,
            "max_batch_rows must be at least 1",
        )?;
        check(
            (100..=3_600_000).contains(&self.store_statement_timeout_ms)
                && (100..=3_600_000).contains(&self.store_lock_timeout_ms),
            "store_statement_timeout_ms and store_lock_timeout_ms must be between 100 and 3600000",
        )?;
        check(
            self.max_unwritten_age_ms >= 100,
            "max_unwritten_age_ms must be at least 100",
        )?;
        check(
            (3..=3600).contains(&self.presence_ttl_secs),
            "presence_ttl_secs must be between 3 and 3600",
        )?;
        check(
            self.pg_max_connections >= 2,
            "pg_max_connections must be at least 2",
        )?;
        check(
            self.parallel_writes >= 1 && self.parallel_writes < self.pg_max_connections as usize,
            "parallel_writes must be at least 1 and less than pg_max_connections (loads and the API need a connection too)",
        )?;
        check(
            (300..=600_000).contains(&self.lease_ms),
            "lease_ms must be between 300 and 600000",
        )?;
        if let Some(node) = &self.node_id {
            check(
                crate::cluster::valid_node_id(node),
                "node_id must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-'",
            )?;
        }
        if let Some(host) = &self.advertise_host {
            check(
                !host.is_empty() && host.len() <= 253 && !host.contains(['/', ' ', '@']),
                "advertise_host must be a host name or an IP address (no scheme, no path)",
            )?;
        }
        check(
            !self.redis_prefix.is_empty() && self.redis_prefix.len() <= 64,
            "redis_prefix must be 1 to 64 characters",
        )?;
        check(
            self.maintenance_interval_secs >= 1,
            "maintenance_interval_secs must be at least 1",
        )?;
        if let Some(url) = &self.database_url {
            check(
                url.expose().starts_with("postgres://")
                    || url.expose().starts_with("postgresql://"),
                "database_url must start with postgres:// or postgresql://",
            )?;
        }
        if let Some(url) = &self.redis_url {
            check(
                url.expose().starts_with("redis://") || url.expose().starts_with("rediss://"),
                "redis_url must start with redis:// or rediss://",
            )?;
        }
        Ok(())
    }

    /// Sizes of what clients send and what the world holds.
    fn validate_input_limits(&self) -> Result<(), ConfigError> {
        check(
            (256..=16 * 1024 * 1024).contains(&self.max_frame_bytes),
            "max_frame_bytes must be between 256 and 16777216",
        )?;
        check(
            self.max_props_bytes >= 2 && self.max_props_bytes < self.max_frame_bytes,
            "max_props_bytes must be at least 2 and below max_frame_bytes",
        )?;
        // Both stores refuse longer text (CHECKs in the schema): the edge must refuse first.
        check(
            (1..=4000).contains(&self.max_chat_chars),
            "max_chat_chars must be between 1 and 4000",
        )?;
        check(
            (1..=256).contains(&self.max_name_chars),
            "max_name_chars must be between 1 and 256",
        )?;
        check(
            self.load_slice_objects >= 1,
            "load_slice_objects must be at least 1",
        )?;
        check(
            self.max_gltf_json_bytes >= 1024 && self.max_gltf_json_values >= 100,
            "max_gltf_json_bytes must be at least 1024 and max_gltf_json_values at least 100",
        )?;
        check(
            self.inbox_capacity >= 16,
            "inbox_capacity must be at least 16",
        )?;
        check(
            self.outbound_queue_frames >= 8,
            "outbound_queue_frames must be at least 8",
        )?;
        check(
            (256..=1024 * 1024).contains(&self.max_signal_bytes),
            "max_signal_bytes must be between 256 and 1048576",
        )?;
        check(
            self.max_model_bytes >= 1024 && self.max_media_bytes >= 1024,
            "max_model_bytes and max_media_bytes must be at least 1024",
        )?;
        Ok(())
    }

    /// Connections: slots, deadlines, QUIC and TLS.
    fn validate_connections(&self) -> Result<(), ConfigError> {
        for origin in &self.cors_origins {
            check(
                is_origin(origin),
                "each of cors_origins must be \"*\" or an origin: scheme://host[:port], no path",
            )?;
        }
        check(
            self.write_timeout_ms >= 100 && self.ws_idle_timeout_ms >= 1_000,
            "write_timeout_ms must be at least 100 and ws_idle_timeout_ms at least 1000",
        )?;
        check(
            self.max_connections_per_addr >= 1,
            "max_connections_per_addr must be at least 1",
        )?;
        check(
            self.http_header_timeout_ms >= 100 && self.http_body_timeout_ms >= 100,
            "http_header_timeout_ms and http_body_timeout_ms must be at least 100",
        )?;
        check(
            self.max_connections >= 1,
            "max_connections must be at least 1",
        )?;
        check(
            self.handshake_timeout_ms >= 100,
            "handshake_timeout_ms must be at least 100",
        )?;
        check(
            self.resume_grace_secs <= 3600,
            "resume_grace_secs must be at most 3600 (an hour)",
        )?;
        check(
            (1_000..=600_000).contains(&self.quic_idle_timeout_ms),
            "quic_idle_timeout_ms must be between 1000 and 600000",
        )?;
        check(
            (1..=16).contains(&self.quic_max_streams),
            "quic_max_streams must be between 1 and 16",
        )?;
        check(
            self.tls_cert_path.is_some() == self.tls_key_path.is_some(),
            "tls_cert_path and tls_key_path go together: set both or neither",
        )?;
        Ok(())
    }

    /// Rates, strikes and work gates.
    fn validate_abuse(&self) -> Result<(), ConfigError> {
        check(
            self.password_hash_concurrency >= 1 && self.upload_concurrency >= 1,
            "password_hash_concurrency and upload_concurrency must be at least 1",
        )?;
        check(
            self.client_messages_per_sec >= 1,
            "client_messages_per_sec must be at least 1",
        )?;
        check(
            self.client_message_burst >= 1,
            "client_message_burst must be at least 1",
        )?;
        check(
            self.strike_window_secs >= 1,
            "strike_window_secs must be at least 1",
        )?;
        for (name, rate) in self.message_rates.all() {
            check(
                rate.is_valid(),
                &format!("message_rates.{name} needs per_sec > 0 and burst >= 1"),
            )?;
        }
        check(
            self.connections_per_addr.is_valid() && self.http_requests_per_addr.is_valid(),
            "connections_per_addr and http_requests_per_addr need per_sec > 0 and burst >= 1",
        )?;
        Ok(())
    }

    /// Interest management and settling.
    fn validate_interest(&self) -> Result<(), ConfigError> {
        if let Some(radius) = self.view_radius {
            check(
                radius.is_finite() && (0.1..=1.0e6).contains(&radius),
                "view_radius must be between 0.1 and 1000000 metres (or unset for whole spaces)",
            )?;
        }
        check(
            (256..=16 * 1024 * 1024).contains(&self.view_budget_bytes),
            "view_budget_bytes must be between 256 and 16777216",
        )?;
        check(
            self.settle_after_ms <= 10_000,
            "settle_after_ms must be at most 10000",
        )?;
        Ok(())
    }

    /// Accounts, the admin API and upload storage.
    fn validate_accounts_and_uploads(&self) -> Result<(), ConfigError> {
        if let Some(token) = &self.admin_token {
            check(
                token.expose().len() >= 16 && token.expose().len() <= 128,
                "admin_token must be 16 to 128 characters",
            )?;
        }
        check(
            self.login_token_ttl_secs >= 60,
            "login_token_ttl_secs must be at least 60",
        )?;
        if let Some(s3) = &self.s3 {
            check(
                !s3.bucket.is_empty() && s3.bucket.len() <= 63,
                "s3.bucket must be 1 to 63 characters",
            )?;
        }
        Ok(())
    }
}
