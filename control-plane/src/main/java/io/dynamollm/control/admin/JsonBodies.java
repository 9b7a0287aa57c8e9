package io.dynamollm.control.admin;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/** Reads a request body that must be one JSON object; what is wrong with it, said for a person. */
final class JsonBodies {
  private static final ObjectMapper JSON = new ObjectMapper();
  /** One JSON value and nothing after it: trailing data (a second object, garbage) is refused, not ignored. */
  private static final com.fasterxml.jackson.databind.ObjectReader STRICT = JSON.reader()
      .with(com.fasterxml.jackson.databind.DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

  private JsonBodies() {}

  /** The object, or the reason it is not one (an HTTP 400). */
  sealed interface Parsed permits Parsed.Ok, Parsed.Bad {
    record Ok(JsonNode object) implements Parsed {}

    record Bad(String message) implements Parsed {}
  }

  /** @param example a valid body, shown in the messages */
  static Parsed object(String body, String example) {
    if (body == null || body.isBlank()) {
      return new Parsed.Bad("the body is empty: send a JSON object like " + example);
    }
    JsonNode root;
    try {
      root = STRICT.readTree(body);
    } catch (JsonProcessingException e) {
      if (e instanceof com.fasterxml.jackson.databind.exc.MismatchedInputException
          && e.getOriginalMessage().startsWith("Trailing token")) {
        return new Parsed.Bad("the body has more after its JSON object: send one JSON object like " + example);
      }
      String why = e.getOriginalMessage().replaceAll("\\s*\\(start marker at \\[Source.*?\\]\\)", "")
          .replaceAll("\\s*at \\[Source.*", "").replaceAll("\\s+", " ").trim();
      return new Parsed.Bad("the body is not valid JSON: " + why);
    }
    if (root == null || root.isMissingNode() || !root.isObject()) {
      return new Parsed.Bad("the body must be a JSON object like " + example);
    }
    return new Parsed.Ok(root);
  }
}
