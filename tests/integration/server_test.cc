// The real muke-server binary on a loopback port, serving stories260K imported by `muke-tool import-llama2c`,
// exercised through its gRPC API (generated stubs, the health protocol, server reflection as grpcurl uses
// it) and through the `muke` client binary. Greedy output must equal llama2.c's own (golden.json).
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/model/config.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "muke/v1/knowledge_editor.grpc.pb.h"
#include "tests/integration/server_process.h"
#include "tests/test_util.h"

namespace muke::testing {
namespace {

using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;
using nlohmann::json;

json GoldenCase() {
  std::ifstream in(Stories260KDir() + "/golden.json");
  return json::parse(in)["cases"][0];
}

std::vector<int64_t> Ids(const google::protobuf::RepeatedField<int64_t>& ids) { return {ids.begin(), ids.end()}; }

// One request/response exchange with a streaming method whose messages are given and returned serialized.
std::string RawStreamingCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                             const std::string& request) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(In(std::chrono::seconds(10)));
  auto call = stub.PrepareCall(&context, method, &cq);
  int tag = 0;
  auto step = [&](const char* what) {
    void* got = nullptr;
    bool ok = false;
    EXPECT_TRUE(cq.Next(&got, &ok) && ok) << what;
  };
  call->StartCall(&tag);
  step("start");
  grpc::Slice slice(request);
  call->Write(grpc::ByteBuffer(&slice, 1), &tag);
  step("write");
  call->WritesDone(&tag);
  step("writes done");
  grpc::ByteBuffer reply;
  call->Read(&reply, &tag);
  step("read");
  grpc::Status status;
  call->Finish(&status, &tag);
  step("finish");
  EXPECT_TRUE(status.ok()) << status.error_message();
  std::vector<grpc::Slice> slices;
  std::string out;
  if (reply.Dump(&slices).ok()) {
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

class ServerTest : public ::testing::Test {
 protected:
  // One server per test binary run (ctest runs each test in its own process).
  static void TearDownTestSuite() { server_.reset(); }

  void SetUp() override {
    MUKE_REQUIRE_SHARED();
    model_dir_ = ImportedStories260K();
    if (!server_) server_ = std::make_unique<ServerProcess>(model_dir_);
    ASSERT_FALSE(server_->address().empty());
    channel_ = grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials());
    WaitServing(channel_);
    stub_ = muke::v1::KnowledgeEditor::NewStub(channel_);
  }

  grpc::Status Generate(const muke::v1::GenerateRequest& request, muke::v1::GenerateResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(60)));
    return stub_->Generate(&context, request, response);
  }

  // Every message of a GenerateStream call, and its final status.
  grpc::Status GenerateStream(const muke::v1::GenerateRequest& request,
                              std::vector<muke::v1::GenerateStreamResponse>* messages) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(60)));
    auto reader = stub_->GenerateStream(&context, request);
    muke::v1::GenerateStreamResponse message;
    while (reader->Read(&message)) messages->push_back(message);
    return reader->Finish();
  }

  static std::unique_ptr<ServerProcess> server_;
  std::string model_dir_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<muke::v1::KnowledgeEditor::Stub> stub_;
};

std::unique_ptr<ServerProcess> ServerTest::server_;

muke::v1::GenerateRequest GreedyRequest(const std::string& prompt, int max_new_tokens) {
  muke::v1::GenerateRequest request;
  request.set_prompt(prompt);
  request.set_max_new_tokens(max_new_tokens);
  return request;
}

TEST_F(ServerTest, PrintsItsAddressModelAndMetricsAddress) {
  ASSERT_FALSE(server_->metrics_address().empty());
  EXPECT_EQ(server_->ready_line(), "muke-server listening on " + server_->address() + " (model " + model_dir_ +
                                       ", metrics http://" + server_->metrics_address() + "/metrics)");
}

TEST_F(ServerTest, GetModelInfoMatchesTheConfig) {
  auto config = LoadModelConfig(model_dir_);
  ASSERT_TRUE(config.ok()) << config.status();
  grpc::ClientContext context;
  muke::v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&context, muke::v1::GetModelInfoRequest(), &info).ok());

  EXPECT_EQ(info.model_dir(), model_dir_);
  EXPECT_EQ(info.model_type(), "llama");
  EXPECT_EQ(info.num_hidden_layers(), config->num_hidden_layers);
  EXPECT_EQ(info.hidden_size(), config->hidden_size);
  EXPECT_EQ(info.intermediate_size(), config->intermediate_size);
  EXPECT_EQ(info.num_attention_heads(), config->num_attention_heads);
  EXPECT_EQ(info.num_key_value_heads(), config->num_key_value_heads);
  EXPECT_EQ(info.head_dim(), config->head_dim);
  EXPECT_EQ(info.vocab_size(), config->vocab_size);
  EXPECT_EQ(info.max_position_embeddings(), config->max_position_embeddings);
  EXPECT_EQ(info.dtype(), "float32");
  EXPECT_EQ(info.device(), "cpu");
  // stories260K (README): dim 64, hidden 172, 5 layers, 8 heads, 4 kv heads, vocab 512, tied classifier.
  EXPECT_EQ(info.num_hidden_layers(), 5);
  EXPECT_EQ(info.vocab_size(), 512);
  const int64_t D = 64, I = 172, L = 5, V = 512, kv = 4 * 8;
  EXPECT_EQ(info.parameter_count(), V * D + L * (2 * D + 2 * D * D + 2 * kv * D + 3 * I * D) + D);
  EXPECT_EQ(info.bos_token_id(), 1);
  EXPECT_EQ(Ids(info.eos_token_ids()), (std::vector<int64_t>{1, 2}));  // llama2.c stops on BOS
}

TEST_F(ServerTest, GreedyGenerateMatchesLlama2c) {
  const json golden = GoldenCase();
  muke::v1::GenerateResponse response;
  ASSERT_TRUE(Generate(GreedyRequest(golden["prompt"], 64), &response).ok());
  EXPECT_EQ(Ids(response.prompt_ids()), golden["prompt_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(Ids(response.ids()), golden["greedy_new_ids"].get<std::vector<int64_t>>());
  EXPECT_EQ(golden["prompt"].get<std::string>() + response.text(), golden["greedy_text"].get<std::string>());
  EXPECT_EQ(response.finish_reason(), muke::v1::FINISH_REASON_LENGTH);
  EXPECT_TRUE(response.timing().has_prefill_duration());
  EXPECT_TRUE(response.timing().has_decode_duration());

  // The same prompt given as ids generates the same tokens.
  muke::v1::GenerateRequest by_ids;
  for (int64_t id : golden["prompt_ids"]) by_ids.add_prompt_ids(id);
  by_ids.set_max_new_tokens(64);
  muke::v1::GenerateResponse by_ids_response;
  ASSERT_TRUE(Generate(by_ids, &by_ids_response).ok());
  EXPECT_EQ(Ids(by_ids_response.ids()), Ids(response.ids()));
}

TEST_F(ServerTest, StreamYieldsTheUnaryTokensAndText) {
  muke::v1::GenerateRequest greedy = GreedyRequest("Once upon a time", 64);
  muke::v1::GenerateRequest sampled = GreedyRequest("Lily and Ben were", 100);
  sampled.mutable_sampling()->set_temperature(0.9);
  sampled.mutable_sampling()->set_top_p(0.95);
  sampled.mutable_sampling()->set_seed(7);
  for (const auto& request : {greedy, sampled}) {
    SCOPED_TRACE(request.ShortDebugString());
    muke::v1::GenerateResponse unary;
    ASSERT_TRUE(Generate(request, &unary).ok());
    std::vector<muke::v1::GenerateStreamResponse> messages;
    ASSERT_TRUE(GenerateStream(request, &messages).ok());
    ASSERT_FALSE(messages.empty());
    ASSERT_TRUE(messages.back().has_summary());

    std::vector<int64_t> ids;
    std::string text;
    for (size_t i = 0; i + 1 < messages.size(); ++i) {
      ASSERT_TRUE(messages[i].has_token());
      ids.push_back(messages[i].token().id());
      text += messages[i].token().text_delta();
    }
    const auto& summary = messages.back().summary();
    text += summary.text_delta();
    EXPECT_EQ(ids, Ids(unary.ids()));
    EXPECT_EQ(text, unary.text());
    EXPECT_EQ(summary.finish_reason(), unary.finish_reason());
    EXPECT_EQ(summary.new_token_count(), unary.ids_size());
    EXPECT_EQ(Ids(summary.prompt_ids()), Ids(unary.prompt_ids()));
    EXPECT_TRUE(summary.timing().has_decode_duration());
  }
}

TEST_F(ServerTest, CancelledStreamStopsAndTheServerGoesOn) {
  muke::v1::GenerateRequest request = GreedyRequest("Once upon a time", 400);
  grpc::ClientContext context;
  auto reader = stub_->GenerateStream(&context, request);
  muke::v1::GenerateStreamResponse message;
  ASSERT_TRUE(reader->Read(&message));
  EXPECT_TRUE(message.has_token());
  context.TryCancel();
  while (reader->Read(&message)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);

  muke::v1::GenerateResponse response;
  EXPECT_TRUE(Generate(GreedyRequest("Once upon a time", 8), &response).ok());
  EXPECT_EQ(response.ids_size(), 8);
}

TEST_F(ServerTest, InvalidRequestsNameTheField) {
  struct Case {
    const char* what;
    std::function<void(muke::v1::GenerateRequest&)> mutate;
    std::vector<std::string> message_parts;
  };
  const std::vector<Case> cases = {
      {"empty prompt", [](auto& r) { r.clear_prompt(); }, {"prompt"}},
      {"prompt and ids", [](auto& r) { r.add_prompt_ids(1); }, {"prompt", "prompt_ids"}},
      {"id over vocab",
       [](auto& r) {
         r.clear_prompt();
         r.add_prompt_ids(1);
         r.add_prompt_ids(512);
       },
       {"prompt_ids[1]", "512"}},
      {"negative id", [](auto& r) { r.clear_prompt(); r.add_prompt_ids(-3); }, {"prompt_ids[0]"}},
      {"max_new_tokens over limit", [](auto& r) { r.set_max_new_tokens(1025); }, {"max_new_tokens", "1024"}},
      {"negative max_new_tokens", [](auto& r) { r.set_max_new_tokens(-1); }, {"max_new_tokens"}},
      {"past max positions",
       [](auto& r) {
         r.clear_prompt();
         for (int i = 0; i < 500; ++i) r.add_prompt_ids(1);
         r.set_max_new_tokens(64);
       },
       {"max_new_tokens", "max_position_embeddings", "512"}},
      {"negative temperature", [](auto& r) { r.mutable_sampling()->set_temperature(-0.5); },
       {"sampling.temperature"}},
      {"zero top_p", [](auto& r) { r.mutable_sampling()->set_top_p(0); }, {"sampling.top_p", "(0, 1]"}},
      {"top_p over 1", [](auto& r) { r.mutable_sampling()->set_top_p(1.5); }, {"sampling.top_p"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    muke::v1::GenerateRequest request = GreedyRequest("Once upon a time", 8);
    c.mutate(request);
    muke::v1::GenerateResponse response;
    const grpc::Status unary = Generate(request, &response);
    std::vector<muke::v1::GenerateStreamResponse> messages;
    const grpc::Status streamed = GenerateStream(request, &messages);
    EXPECT_TRUE(messages.empty());
    for (const grpc::Status& status : {unary, streamed}) {
      EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
      for (const auto& part : c.message_parts) {
        EXPECT_NE(status.error_message().find(part), std::string::npos)
            << "'" << status.error_message() << "' lacks '" << part << "'";
      }
    }
  }
}

TEST_F(ServerTest, HealthServiceReportsServing) {
  auto health = grpc::health::v1::Health::NewStub(channel_);
  for (const char* service : {"", "muke.v1.KnowledgeEditor"}) {
    grpc::ClientContext context;
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&context, request, &response).ok()) << service;
    EXPECT_EQ(response.status(), HealthCheckResponse::SERVING) << service;
  }
  grpc::ClientContext context;
  HealthCheckRequest request;
  request.set_service("no.such.Service");
  HealthCheckResponse response;
  EXPECT_EQ(health->Check(&context, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
}

// What grpcurl does: list the services, then fetch the descriptor of one (requests encoded by hand:
// ServerReflectionRequest field 7 list_services = "", field 4 file_containing_symbol).
TEST_F(ServerTest, ReflectionDescribesTheApi) {
  const std::string method = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
  const std::string services = RawStreamingCall(channel_, method, std::string("\x3a\x00", 2));
  EXPECT_NE(services.find("muke.v1.KnowledgeEditor"), std::string::npos);
  EXPECT_NE(services.find("grpc.health.v1.Health"), std::string::npos);

  const std::string symbol = "muke.v1.KnowledgeEditor";
  const std::string file =
      RawStreamingCall(channel_, method, std::string("\x22") + static_cast<char>(symbol.size()) + symbol);
  EXPECT_NE(file.find("muke/v1/knowledge_editor.proto"), std::string::npos);
  EXPECT_NE(file.find("GenerateStream"), std::string::npos);
}

TEST_F(ServerTest, ClientInfoJson) {
  const testing::CommandResult run = RunClient({"--server", server_->address(), "info", "--json"});
  ASSERT_EQ(run.exit_code, 0) << run.out;
  const json info = json::parse(run.out);
  EXPECT_EQ(info["model_dir"], model_dir_);
  EXPECT_EQ(info["vocab_size"], 512);
  EXPECT_EQ(info["num_hidden_layers"], 5);
  EXPECT_EQ(info["eos_token_ids"], json::array({1, 2}));
}

TEST_F(ServerTest, ClientGeneratePrintsTheGoldenText) {
  const json golden = GoldenCase();
  const std::string expected = golden["greedy_text"].get<std::string>() + "\n";
  for (bool stream : {false, true}) {
    std::vector<std::string> args = {"--server", server_->address(), "generate", "--prompt", golden["prompt"],
                                     "--max-new-tokens", "64"};
    if (stream) args.push_back("--stream");
    const testing::CommandResult run = RunClient(args);
    EXPECT_EQ(run.exit_code, 0) << "stream=" << stream;
    EXPECT_EQ(run.out, expected) << "stream=" << stream;
  }
  const testing::CommandResult run = RunClient({"--server", server_->address(), "--json", "generate", "--prompt",
                                   golden["prompt"], "--max-new-tokens", "64"});
  ASSERT_EQ(run.exit_code, 0);
  const json j = json::parse(run.out);
  EXPECT_EQ(j["ids"], golden["greedy_new_ids"]);
  EXPECT_EQ(j["finish_reason"], "length");
}

TEST_F(ServerTest, ClientExitCodes) {
  EXPECT_EQ(RunClient({"--server", "127.0.0.1:1", "info"}).exit_code, 3);
  EXPECT_EQ(RunClient({"--server", server_->address(), "health"}).exit_code, 0);
  EXPECT_EQ(RunClient({"--server", server_->address(), "generate", "--prompt", "x", "--top-p", "2"}).exit_code, 4);
  EXPECT_EQ(RunClient({"--server", server_->address(), "generate"}).exit_code, 2);
  EXPECT_EQ(RunClient({"--server", server_->address(), "frobnicate"}).exit_code, 2);
}

// Each starts its own server, so that the shared one keeps serving the other tests.
muke::v1::GenerateRequest ChatRequest(const std::vector<std::pair<std::string, std::string>>& messages) {
  muke::v1::GenerateRequest request;
  request.set_max_new_tokens(24);
  for (const auto& [role, content] : messages) {
    muke::v1::ChatMessage* message = request.add_messages();
    message->set_role(role);
    message->set_content(content);
  }
  return request;
}

TEST_F(ServerTest, ChatMessagesNeedAChatTemplateAndAreChecked) {
  muke::v1::GenerateResponse response;
  grpc::Status status = Generate(ChatRequest({{"user", "Who is Lily?"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << status.error_message();
  EXPECT_NE(status.error_message().find("chat template"), std::string::npos) << status.error_message();
  muke::v1::GenerateRequest both = ChatRequest({{"user", "Who is Lily?"}});
  both.set_prompt("Once upon a time");
  status = Generate(both, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << status.error_message();
  EXPECT_NE(status.error_message().find("messages"), std::string::npos) << status.error_message();
}

// The same model with a chat template: messages are rendered as transformers' apply_chat_template does (the
// template here is plain, so the expected prompt is written out) and tokenized without special tokens.
TEST(ServerChatTest, MessagesGenerateLikeTheirRenderedPrompt) {
  MUKE_REQUIRE_SHARED();
  const std::string dir = MakeTempDir("chat-model");
  std::filesystem::copy(ImportedStories260K(), dir, std::filesystem::copy_options::recursive |
                                                        std::filesystem::copy_options::overwrite_existing);
  std::ofstream(dir + "/chat_template.jinja")
      << "{% for m in messages %}<{{ m.role }}> {{ m.content }}\n{% endfor %}"
         "{% if add_generation_prompt %}<assistant>{% endif %}";
  ServerProcess server(dir);
  ASSERT_FALSE(server.address().empty());
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  WaitServing(channel);
  auto stub = muke::v1::KnowledgeEditor::NewStub(channel);
  auto generate = [&](const muke::v1::GenerateRequest& request, muke::v1::GenerateResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(In(std::chrono::seconds(60)));
    return stub->Generate(&context, request, response);
  };

  muke::v1::GenerateResponse chat;
  grpc::Status status = generate(ChatRequest({{"system", "Be kind."}, {"user", "Who is Lily?"}}), &chat);
  ASSERT_TRUE(status.ok()) << status.error_message();
  muke::v1::GenerateRequest rendered;
  rendered.set_prompt("<system> Be kind.\n<user> Who is Lily?\n<assistant>");
  rendered.set_add_special_tokens(false);
  rendered.set_max_new_tokens(24);
  muke::v1::GenerateResponse plain;
  ASSERT_TRUE(generate(rendered, &plain).ok());
  EXPECT_EQ(Ids(chat.prompt_ids()), Ids(plain.prompt_ids()));
  EXPECT_EQ(Ids(chat.ids()), Ids(plain.ids()));
  EXPECT_EQ(chat.text(), plain.text());

  for (const auto& [messages, field] :
       std::vector<std::pair<std::vector<std::pair<std::string, std::string>>, std::string>>{
           {{{"User", "Who?"}}, "messages[0].role"},
           {{{"user", "ok"}, {"", "Who?"}}, "messages[1].role"},
           {{{"user", "Who \xff?"}}, "messages[0].content"}}) {
    status = generate(ChatRequest(messages), &chat);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << field;
    EXPECT_NE(status.error_message().find(field), std::string::npos) << status.error_message();
  }
  const CommandResult client =
      RunClient({"--server", server.address(), "--json", "generate", "--chat", "--system", "Be kind.", "--prompt",
                 "Who is Lily?", "--max-new-tokens", "24"});
  ASSERT_EQ(client.exit_code, 0) << client.out;
  EXPECT_EQ(json::parse(client.out)["ids"].get<std::vector<int64_t>>(), Ids(plain.ids()));
}

TEST(ServerShutdownTest, SigtermExitsZeroWithinSeconds) {
  MUKE_REQUIRE_SHARED();
  ServerProcess server(ImportedStories260K());
  ASSERT_FALSE(server.address().empty());
  WaitServing(grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials()));  // channel closed after
  const std::optional<int> status = server.Terminate(std::chrono::seconds(3));
  ASSERT_TRUE(status.has_value()) << "muke-server still running 3 s after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

// A client that keeps its connection open must answer the server's GOAWAY before the server can finish (a
// sync-API client without a call in flight does so from gRPC's 5 s backup poller); the server does not wait
// for it past its 10 s grace period.
TEST(ServerShutdownTest, SigtermWithAnIdleClientConnectedExitsWithinTheGracePeriod) {
  MUKE_REQUIRE_SHARED();
  ServerProcess server(ImportedStories260K());
  ASSERT_FALSE(server.address().empty());
  auto channel = grpc::CreateChannel(server.address(), grpc::InsecureChannelCredentials());
  WaitServing(channel);
  const std::optional<int> status = server.Terminate(std::chrono::seconds(12));
  ASSERT_TRUE(status.has_value()) << "muke-server still running 12 s after SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "wait status " << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0);
}

}  // namespace
}  // namespace muke::testing
