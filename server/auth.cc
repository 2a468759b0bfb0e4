#include "server/auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "core/util/file_io.h"
#include "core/util/log.h"
#include "server/grpc_status.h"

namespace muke::server {
namespace {

constexpr char kHeader[] = "authorization";
constexpr absl::string_view kScheme = "Bearer ";
constexpr char kExpected[] = "expected call metadata `authorization: Bearer <token>`";

static_assert(SHA256_DIGEST_LENGTH == 32);

std::array<unsigned char, SHA256_DIGEST_LENGTH> Sha256(absl::string_view text) {
  std::array<unsigned char, SHA256_DIGEST_LENGTH> digest;
  SHA256(reinterpret_cast<const unsigned char*>(text.data()), text.size(), digest.data());
  return digest;
}

}  // namespace

absl::StatusOr<BearerTokenChecker> BearerTokenChecker::FromFile(const std::string& path) {
  absl::StatusOr<std::string> content = ReadFileBytes(path);
  if (!content.ok()) return content.status();
  const absl::string_view token = absl::StripTrailingAsciiWhitespace(*content);
  if (token.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": the token file is empty"));
  return BearerTokenChecker(std::string(token));
}

BearerTokenChecker::BearerTokenChecker(const std::string& token) : digest_(Sha256(token)) {}

absl::Status BearerTokenChecker::Check(const std::multimap<grpc::string_ref, grpc::string_ref>& metadata) const {
  const auto header = metadata.find(kHeader);
  if (header == metadata.end()) return absl::UnauthenticatedError(absl::StrCat("missing token: ", kExpected));
  const absl::string_view value(header->second.data(), header->second.size());
  if (!absl::StartsWithIgnoreCase(value, kScheme)) {
    return absl::UnauthenticatedError(absl::StrCat("authorization is not a bearer token: ", kExpected));
  }
  const auto digest = Sha256(value.substr(kScheme.size()));
  if (CRYPTO_memcmp(digest.data(), digest_.data(), digest_.size()) != 0) {
    return absl::UnauthenticatedError(absl::StrCat("wrong token: ", kExpected, " with the server's token"));
  }
  return absl::OkStatus();
}

AuthenticatedKnowledgeEditor::AuthenticatedKnowledgeEditor(muke::v1::KnowledgeEditor::Service& inner,
                                                           BearerTokenChecker checker)
    : inner_(inner), checker_(std::move(checker)) {}

grpc::Status AuthenticatedKnowledgeEditor::Authenticate(const char* method, const grpc::ServerContext& context) const {
  const absl::Status status = checker_.Check(context.client_metadata());
  if (!status.ok()) {
    Log(LogLevel::kInfo, "unauthenticated",
        {{"rpc", method}, {"peer", context.peer()}, {"error", std::string(status.message())}});
  }
  return ToGrpcStatus(status);
}

grpc::Status AuthenticatedKnowledgeEditor::GetModelInfo(grpc::ServerContext* context,
                                                        const muke::v1::GetModelInfoRequest* request,
                                                        muke::v1::ModelInfo* response) {
  return inner_.GetModelInfo(context, request, response);
}

grpc::Status AuthenticatedKnowledgeEditor::Generate(grpc::ServerContext* context,
                                                    const muke::v1::GenerateRequest* request,
                                                    muke::v1::GenerateResponse* response) {
  return inner_.Generate(context, request, response);
}

grpc::Status AuthenticatedKnowledgeEditor::GenerateStream(
    grpc::ServerContext* context, const muke::v1::GenerateRequest* request,
    grpc::ServerWriter<muke::v1::GenerateStreamResponse>* writer) {
  return inner_.GenerateStream(context, request, writer);
}

grpc::Status AuthenticatedKnowledgeEditor::GetEdit(grpc::ServerContext* context,
                                                   const muke::v1::GetEditRequest* request, muke::v1::Edit* response) {
  return inner_.GetEdit(context, request, response);
}

grpc::Status AuthenticatedKnowledgeEditor::ListEdits(grpc::ServerContext* context,
                                                     const muke::v1::ListEditsRequest* request,
                                                     muke::v1::ListEditsResponse* response) {
  return inner_.ListEdits(context, request, response);
}

grpc::Status AuthenticatedKnowledgeEditor::WatchEdit(grpc::ServerContext* context,
                                                     const muke::v1::WatchEditRequest* request,
                                                     grpc::ServerWriter<muke::v1::EditEvent>* writer) {
  return inner_.WatchEdit(context, request, writer);
}

grpc::Status AuthenticatedKnowledgeEditor::EditKnowledge(grpc::ServerContext* context,
                                                         const muke::v1::EditKnowledgeRequest* request,
                                                         muke::v1::Edit* response) {
  const grpc::Status status = Authenticate("EditKnowledge", *context);
  return status.ok() ? inner_.EditKnowledge(context, request, response) : status;
}

grpc::Status AuthenticatedKnowledgeEditor::CancelEdit(grpc::ServerContext* context,
                                                      const muke::v1::CancelEditRequest* request,
                                                      muke::v1::Edit* response) {
  const grpc::Status status = Authenticate("CancelEdit", *context);
  return status.ok() ? inner_.CancelEdit(context, request, response) : status;
}

grpc::Status AuthenticatedKnowledgeEditor::RollbackEdit(grpc::ServerContext* context,
                                                        const muke::v1::RollbackEditRequest* request,
                                                        muke::v1::Edit* response) {
  const grpc::Status status = Authenticate("RollbackEdit", *context);
  return status.ok() ? inner_.RollbackEdit(context, request, response) : status;
}

grpc::Status AuthenticatedKnowledgeEditor::ExportCheckpoint(grpc::ServerContext* context,
                                                            const muke::v1::ExportCheckpointRequest* request,
                                                            muke::v1::ExportCheckpointResponse* response) {
  const grpc::Status status = Authenticate("ExportCheckpoint", *context);
  return status.ok() ? inner_.ExportCheckpoint(context, request, response) : status;
}

}  // namespace muke::server
