package io.dynamollm.control.frontdoor;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * An error as the OpenAI API answers one: {@code {"error": {"message", "type", "param", "code"}}} with its HTTP
 * status.
 *
 * @param param the request field at fault, or null
 * @param code a machine-readable code (OpenAI's where one exists: {@code context_length_exceeded},
 *     {@code model_not_found}, {@code invalid_api_key}), or null
 */
public record ApiError(int status, String message, String type, String param, String code) {
  private static final ObjectMapper JSON = new ObjectMapper();

  /** 400: the request is wrong in field {@code param}. */
  static ApiError invalid(String param, String message) {
    return new ApiError(400, message, "invalid_request_error", param, null);
  }

  /** As JSON. */
  public ObjectNode json() {
    ObjectNode root = JSON.createObjectNode();
    ObjectNode e = root.putObject("error");
    e.put("message", message);
    e.put("type", type);
    if (param == null) {
      e.putNull("param");
    } else {
      e.put("param", param);
    }
    if (code == null) {
      e.putNull("code");
    } else {
      e.put("code", code);
    }
    return root;
  }
}
