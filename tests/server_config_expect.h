// Field-by-field comparison of two ServerConfigs for the config tests (ServerConfig has no operator==).
#pragma once

#include <gtest/gtest.h>

#include "server/server_config.h"

namespace muke::server {

inline void ExpectSameConfig(const ServerConfig& a, const ServerConfig& b) {
  EXPECT_EQ(a.model, b.model);
  EXPECT_EQ(a.model_load.device, b.model_load.device);
  EXPECT_EQ(a.model_load.dtype, b.model_load.dtype);
  EXPECT_EQ(a.threads, b.threads);
  EXPECT_EQ(a.listen, b.listen);
  EXPECT_EQ(a.metrics_listen, b.metrics_listen);
  EXPECT_EQ(a.data_dir, b.data_dir);
  EXPECT_EQ(a.journal_dir, b.journal_dir);
  EXPECT_EQ(a.export_dir, b.export_dir);
  EXPECT_EQ(a.statistics_dir, b.statistics_dir);
  EXPECT_EQ(a.generation_limits.max_new_tokens, b.generation_limits.max_new_tokens);
  EXPECT_EQ(a.edit_limits.max_prompt_tokens, b.edit_limits.max_prompt_tokens);
  EXPECT_EQ(a.edit_limits.max_target_tokens, b.edit_limits.max_target_tokens);
  EXPECT_EQ(a.edit_limits.defaults.strategy, b.edit_limits.defaults.strategy);
  EXPECT_EQ(a.edit_limits.defaults.update, b.edit_limits.defaults.update);
  EXPECT_EQ(a.edit_limits.defaults.hook_layer, b.edit_limits.defaults.hook_layer);
  EXPECT_EQ(a.edit_limits.defaults.layers, b.edit_limits.defaults.layers);
  EXPECT_EQ(a.max_queued_edits, b.max_queued_edits);
  EXPECT_EQ(a.max_message_bytes, b.max_message_bytes);
  EXPECT_EQ(a.tls_cert_file, b.tls_cert_file);
  EXPECT_EQ(a.tls_key_file, b.tls_key_file);
  EXPECT_EQ(a.auth_token_file, b.auth_token_file);
  EXPECT_EQ(a.log_level, b.log_level);
}

}  // namespace muke::server
