// A Prometheus scrape for the tests: a plain HTTP/1.0 GET over a loopback socket and a parser of the text
// exposition format (version 0.0.4), so that names, labels, types and values are checked as Prometheus sees them.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace muke::testing {

using Labels = std::map<std::string, std::string>;

// A TCP connection to 127.0.0.1:`port` (-1 when refused), with 10 s send and receive timeouts.
inline int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  timeval timeout{10, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Sends `request` to 127.0.0.1:`port` and returns the whole answer (the server closes the connection).
inline std::string Exchange(int port, const std::string& request) {
  const int fd = Connect(port);
  if (fd < 0) {
    ADD_FAILURE() << "connect to 127.0.0.1:" << port << ": errno " << errno;
    return "";
  }
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string response;
  char buffer[4096];
  ssize_t n;
  while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) response.append(buffer, static_cast<size_t>(n));
  EXPECT_EQ(n, 0) << "recv: errno " << errno;
  close(fd);
  return response;
}

// The body of an HTTP/1.0 GET of http://127.0.0.1:`port``path`; fails the test (and returns "") unless the
// answer is 200.
inline std::string HttpGet(int port, const std::string& path) {
  const std::string response = Exchange(port, absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"));
  const size_t body = response.find("\r\n\r\n");
  if (!absl::StartsWith(response, "HTTP/1.1 200 OK\r\n") || body == std::string::npos) {
    ADD_FAILURE() << "GET " << path << " answered:\n" << response.substr(0, 500);
    return "";
  }
  EXPECT_TRUE(absl::StrContains(response.substr(0, body), "Content-Type: text/plain; version=0.0.4")) << response;
  return response.substr(body + 4);
}

// A scrape in the Prometheus text exposition format (version 0.0.4).
struct Exposition {
  std::map<std::string, std::string> help;  // by metric family name
  std::map<std::string, std::string> type;
  std::map<std::string, std::map<Labels, double>> samples;  // by sample name, e.g. "x_bucket"
};

// Reads `"value"` with its escapes (\\, \", \n) from text[*i], leaving *i after the closing quote.
inline std::string ParseQuoted(const std::string& text, size_t* i) {
  std::string value;
  EXPECT_EQ(text[*i], '"') << text;
  for (++*i; *i < text.size() && text[*i] != '"'; ++*i) {
    if (text[*i] == '\\' && *i + 1 < text.size()) {
      ++*i;
      value += text[*i] == 'n' ? '\n' : text[*i];
    } else {
      value += text[*i];
    }
  }
  ++*i;
  return value;
}

inline Exposition Parse(const std::string& text) {
  Exposition exposition;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    for (const char* kind : {"# HELP ", "# TYPE "}) {
      if (absl::StartsWith(line, kind)) {
        const size_t name_end = line.find(' ', 7);
        auto& table = kind[2] == 'H' ? exposition.help : exposition.type;
        table[line.substr(7, name_end - 7)] = name_end == std::string::npos ? "" : line.substr(name_end + 1);
      }
    }
    if (line[0] == '#') continue;
    size_t i = line.find_first_of("{ ");
    const std::string name = line.substr(0, i);
    Labels labels;
    if (line[i] == '{') {
      ++i;
      while (line[i] != '}') {
        const size_t eq = line.find('=', i);
        const std::string key = line.substr(i, eq - i);
        i = eq + 1;
        labels[key] = ParseQuoted(line, &i);
        if (line[i] == ',') ++i;
      }
      ++i;
    }
    char* value_end = nullptr;
    const double value = std::strtod(line.c_str() + i + 1, &value_end);
    EXPECT_NE(value_end, line.c_str() + i + 1) << "no value in: " << line;
    EXPECT_TRUE(exposition.samples[name].emplace(labels, value).second) << "duplicate sample: " << line;
  }
  return exposition;
}

inline std::optional<double> Sample(const Exposition& e, const std::string& name, const Labels& labels = {}) {
  auto family = e.samples.find(name);
  if (family == e.samples.end()) return std::nullopt;
  auto sample = family->second.find(labels);
  if (sample == family->second.end()) return std::nullopt;
  return sample->second;
}

// The samples of http://127.0.0.1:`port`/metrics.
inline Exposition Scrape(int port) { return Parse(HttpGet(port, "/metrics")); }

}  // namespace muke::testing
