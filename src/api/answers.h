// What every handler answers with: the one table from error codes to HTTP statuses and
// Masakari's fault names, JSON bodies, the one-resource answers, and the two helpers the
// action endpoints share (the action an action body names; waiting for another component).
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <initializer_list>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "api/http.h"
#include "api/json_writer.h"
#include "core/domain.h"
#include "core/error.h"
#include "ha/ha_service.h"

namespace warden::api {

// Masakari's error body for `e`, with the status its code maps to.
HttpResponse ErrorResponse(const Error& e);
HttpResponse JsonResponse(int status, JsonWriter& w);

HttpResponse SegmentAnswer(int status, const Segment& segment);
HttpResponse HostAnswer(int status, const ha::HostWithSegment& found);
HttpResponse NotificationAnswer(int status, const Notification& n, bool with_workflow_details);

// The action an action body names: {"<action>": null} (or {}) with one of `actions`.
Result<std::string> ActionOf(const nlohmann::json& body,
                             std::initializer_list<std::string_view> actions);

// Asks another component through `ask` (whose callback runs once, on that component's thread)
// and waits for the answer on this worker thread, at most `seconds`.
template <typename T>
Result<T> Await(std::string_view who, int seconds,
                const std::function<void(std::function<void(Result<T>)>)>& ask) {
  auto promise = std::make_shared<std::promise<Result<T>>>();
  auto future = promise->get_future();
  ask([promise](Result<T> r) { promise->set_value(std::move(r)); });
  if (future.wait_for(std::chrono::seconds(seconds)) != std::future_status::ready) {
    return Unavailable(std::string(who) + " did not answer in " + std::to_string(seconds) + " s.");
  }
  try {
    return future.get();
  } catch (const std::future_error&) {
    // The callback was dropped unanswered (its component is stopping).
    return Unavailable(std::string(who) + " gave no answer.");
  }
}

}  // namespace warden::api
