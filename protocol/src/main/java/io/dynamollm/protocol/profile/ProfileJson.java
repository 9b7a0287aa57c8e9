package io.dynamollm.protocol.profile;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dynamollm.protocol.RequestType;
import io.dynamollm.protocol.profile.ProfileDocument.AllReduce;
import io.dynamollm.protocol.profile.ProfileDocument.Architecture;
import io.dynamollm.protocol.profile.ProfileDocument.Clocks;
import io.dynamollm.protocol.profile.ProfileDocument.ContextPoint;
import io.dynamollm.protocol.profile.ProfileDocument.Decode;
import io.dynamollm.protocol.profile.ProfileDocument.FrequencyModel;
import io.dynamollm.protocol.profile.ProfileDocument.Prefill;
import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Reads and writes profile files ({@link ProfileDocument#FORMAT}). Reading checks everything a profile needs: every
 * field present with the right type and range, no field the format does not define (a misspelled one would silently
 * fall back to nothing), series of matching lengths over strictly increasing axes. A problem is a {@link
 * ProfileFormatException} whose message names the field, e.g. {@code tensor_parallel[1].prefill.ms: expected 6
 * numbers (one per prefill.tokens), got 5}.
 */
public final class ProfileJson {
  private static final ObjectMapper MAPPER = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

  private ProfileJson() {}

  /** A profile file that cannot be used; the message names the file (or source) and the field. */
  public static final class ProfileFormatException extends IllegalArgumentException {
    ProfileFormatException(String message) {
      super(message);
    }
  }

  /**
   * The document in {@code text}.
   *
   * @param source what to call the text in messages (the file's path)
   * @throws ProfileFormatException naming the source and the field when the text is not a complete, valid profile
   */
  public static ProfileDocument read(String source, String text) {
    JsonNode root;
    try {
      root = MAPPER.readTree(text);
    } catch (JsonProcessingException e) {
      throw new ProfileFormatException(source + ": not JSON: " + e.getOriginalMessage()
          + (e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ")"));
    }
    if (root == null || root.isMissingNode()) {
      throw new ProfileFormatException(source + ": empty file, expected a profile object");
    }
    try {
      return document(new Field("", root));
    } catch (ProfileFormatException e) {
      throw new ProfileFormatException(source + ": " + e.getMessage());
    }
  }

  /** The document as the text of a profile file (indented, fields in the order docs/profile.md lists them). */
  public static String write(ProfileDocument d) {
    ObjectNode root = MAPPER.createObjectNode();
    root.put("format", ProfileDocument.FORMAT);
    root.put("model", d.model());
    root.put("hardware", d.hardware());
    ObjectNode a = root.putObject("architecture");
    Architecture arch = d.architecture();
    a.put("layers", arch.layers());
    a.put("hidden", arch.hidden());
    a.put("kv_heads", arch.kvHeads());
    a.put("head_dim", arch.headDim());
    num(a, "parameters", arch.parameters());
    a.put("bytes_per_value", arch.bytesPerValue());
    ObjectNode c = root.putObject("clocks");
    ArrayNode levels = c.putArray("levels_mhz");
    d.clocks().levelsMhz().forEach(levels::add);
    c.put("min_mhz", d.clocks().minMhz());
    c.put("max_mhz", d.clocks().maxMhz());
    num(root, "idle_power_w", d.idlePowerW());
    num(root, "loading_power_w", d.loadingPowerW());
    ArrayNode tps = root.putArray("tensor_parallel");
    for (TpSeries s : d.tensorParallel()) {
      ObjectNode t = tps.addObject();
      t.put("tp", s.tp());
      t.put("max_batch", s.maxBatch());
      t.put("kv_cache_tokens", s.kvCacheTokens());
      t.put("max_context_tokens", s.maxContextTokens());
      ObjectNode dec = t.putObject("decode");
      num(dec, "context_tokens", s.decode().contextTokens());
      numbers(dec.putArray("batch"), s.decode().batch());
      numbers(dec.putArray("ms"), s.decode().ms());
      numbers(dec.putArray("power_w"), s.decode().powerW());
      ArrayNode ctx = t.putArray("decode_context");
      for (ContextPoint p : s.decodeContext()) {
        ObjectNode point = ctx.addObject();
        num(point, "batch", p.batch());
        num(point, "context_tokens", p.contextTokens());
        num(point, "ms", p.ms());
      }
      ObjectNode pre = t.putObject("prefill");
      numbers(pre.putArray("tokens"), s.prefill().tokens());
      numbers(pre.putArray("ms"), s.prefill().ms());
      numbers(pre.putArray("power_w"), s.prefill().powerW());
      numbers(pre.putArray("sm_mhz"), s.prefill().smMhz());
      ObjectNode ar = t.putObject("all_reduce");
      numbers(ar.putArray("log2_bytes"), s.allReduce().log2Bytes());
      numbers(ar.putArray("ms"), s.allReduce().ms());
      s.measuredBy().ifPresent(by -> t.put("measured_by", by));
    }
    ObjectNode f = root.putObject("frequency_model");
    FrequencyModel fm = d.frequencyModel();
    num(f, "sustained_flops_at_max", fm.sustainedFlopsAtMax());
    num(f, "min_compute_share", fm.minComputeShare());
    num(f, "max_compute_share", fm.maxComputeShare());
    num(f, "voltage_floor_mhz", fm.voltageFloorMhz());
    num(f, "hbm_share_of_memory_bound_power", fm.hbmShareOfMemoryBoundPower());
    num(f, "busy_baseline_w", fm.busyBaselineW());
    num(f, "kv_read_bytes_per_s", fm.kvReadBytesPerS());
    ObjectNode shapes = root.putObject("request_shapes");
    for (RequestType type : RequestType.values()) {
      TypeShape s = d.requestShapes().get(type);
      shapes.putObject(type.name())
          .put("mean_input_tokens", s.meanInputTokens())
          .put("p99_input_tokens", s.p99InputTokens())
          .put("mean_output_tokens", s.meanOutputTokens())
          .put("p99_output_tokens", s.p99OutputTokens());
    }
    ObjectNode prov = root.putObject("provenance");
    for (String key : ProfileDocument.PROVENANCE_KEYS) {
      prov.put(key, d.provenance().get(key));
    }
    try {
      return MAPPER.writeValueAsString(root) + "\n";
    } catch (JsonProcessingException e) {
      throw new IllegalStateException("cannot write a profile document", e);
    }
  }

  private static void numbers(ArrayNode into, double[] values) {
    for (double v : values) {
      if (whole(v)) {
        into.add((long) v);
      } else {
        into.add(v);
      }
    }
  }

  /** A number, written without a fraction where it has none (1024, not 1024.0). */
  private static void num(ObjectNode into, String key, double v) {
    if (whole(v)) {
      into.put(key, (long) v);
    } else {
      into.put(key, v);
    }
  }

  private static boolean whole(double v) {
    return v == Math.rint(v) && Math.abs(v) < 1e9;
  }

  // ------------------------------------------------------------------------------------------------ reading

  private static ProfileDocument document(Field root) {
    root.only("format", "model", "hardware", "architecture", "clocks", "idle_power_w", "loading_power_w",
        "tensor_parallel", "frequency_model", "request_shapes", "provenance");
    String format = root.get("format").text();
    if (!format.equals(ProfileDocument.FORMAT)) {
      throw root.get("format").error("this build reads '" + ProfileDocument.FORMAT + "', the file is '" + format + "'");
    }
    Field a = root.get("architecture");
    a.only("layers", "hidden", "kv_heads", "head_dim", "parameters", "bytes_per_value");
    Architecture arch = new Architecture(a.get("layers").integer(1, 10_000), a.get("hidden").integer(1, 1 << 20),
        a.get("kv_heads").integer(1, 4096), a.get("head_dim").integer(1, 65_536),
        a.get("parameters").number(1e6, 1e15), a.get("bytes_per_value").integer(1, 8));
    Field c = root.get("clocks");
    c.only("levels_mhz", "min_mhz", "max_mhz");
    int minMhz = c.get("min_mhz").integer(100, 5000);
    int maxMhz = c.get("max_mhz").integer(minMhz + 1, 5000);
    double[] levelArray = c.get("levels_mhz").increasing(1, minMhz, maxMhz);
    List<Integer> levels = new ArrayList<>();
    for (int i = 0; i < levelArray.length; i++) {
      if (levelArray[i] != Math.rint(levelArray[i])) {
        throw c.get("levels_mhz").error("entry " + i + " must be a whole number of MHz, got " + levelArray[i]);
      }
      levels.add((int) levelArray[i]);
    }
    if (levels.get(levels.size() - 1) != maxMhz) {
      throw c.get("levels_mhz").error("the highest level must be clocks.max_mhz (" + maxMhz + "), got "
          + levels.get(levels.size() - 1));
    }
    double idle = root.get("idle_power_w").number(1, 2000);
    double loading = root.get("loading_power_w").number(idle, 2000);

    Field tps = root.get("tensor_parallel");
    List<TpSeries> series = new ArrayList<>();
    int previous = 0;
    for (Field t : tps.elements()) {
      TpSeries s = tpSeries(t, minMhz, maxMhz);
      if (s.tp() <= previous) {
        throw t.get("tp").error("degrees must be listed once each, ascending; " + s.tp() + " follows " + previous);
      }
      previous = s.tp();
      series.add(s);
    }
    if (series.isEmpty()) {
      throw tps.error("at least one tensor-parallel degree is needed");
    }
    if (series.stream().noneMatch(s -> s.tp() == 8)) {
      throw tps.error("TP8 is needed: the default SLOs are set by each type's latency alone on TP8");
    }

    Field f = root.get("frequency_model");
    f.only("sustained_flops_at_max", "min_compute_share", "max_compute_share", "voltage_floor_mhz",
        "hbm_share_of_memory_bound_power", "busy_baseline_w", "kv_read_bytes_per_s");
    double minShare = f.get("min_compute_share").number(0, 1);
    FrequencyModel fm = new FrequencyModel(f.get("sustained_flops_at_max").number(1e9, 1e18), minShare,
        f.get("max_compute_share").number(minShare, 1), f.get("voltage_floor_mhz").number(minMhz, maxMhz),
        f.get("hbm_share_of_memory_bound_power").number(0, 1), f.get("busy_baseline_w").number(0, 2000),
        f.get("kv_read_bytes_per_s").number(1e9, 1e15));

    Field shapes = root.get("request_shapes");
    String[] typeNames = new String[RequestType.values().length];
    for (RequestType type : RequestType.values()) {
      typeNames[type.ordinal()] = type.name();
    }
    shapes.only(typeNames);
    Map<RequestType, TypeShape> shapeMap = new EnumMap<>(RequestType.class);
    for (RequestType type : RequestType.values()) {
      Field s = shapes.get(type.name());
      s.only("mean_input_tokens", "p99_input_tokens", "mean_output_tokens", "p99_output_tokens");
      int meanIn = s.get("mean_input_tokens").integer(1, 1 << 24);
      int meanOut = s.get("mean_output_tokens").integer(1, 1 << 24);
      shapeMap.put(type, new TypeShape(meanIn, s.get("p99_input_tokens").integer(meanIn, 1 << 24), meanOut,
          s.get("p99_output_tokens").integer(meanOut, 1 << 24)));
    }

    Field p = root.get("provenance");
    p.only(ProfileDocument.PROVENANCE_KEYS.toArray(String[]::new));
    Map<String, String> provenance = new LinkedHashMap<>();
    for (String key : ProfileDocument.PROVENANCE_KEYS) {
      String text = p.get(key).text();
      if (text.isBlank()) {
        throw p.get(key).error("say where the series comes from (measured where, modeled how)");
      }
      provenance.put(key, text);
    }
    return new ProfileDocument(root.get("model").text(), root.get("hardware").text(), arch,
        new Clocks(levels, minMhz, maxMhz), idle, loading, series, fm, shapeMap, provenance);
  }

  private static TpSeries tpSeries(Field t, int minMhz, int maxMhz) {
    t.only("tp", "max_batch", "kv_cache_tokens", "max_context_tokens", "decode", "decode_context", "prefill",
        "all_reduce", "measured_by");
    int tp = t.get("tp").integer(1, 64);
    if (Integer.bitCount(tp) != 1) {
      throw t.get("tp").error("a tensor-parallel degree is a power of two, got " + tp);
    }
    int maxBatch = t.get("max_batch").integer(1, 1 << 16);
    long kv = (long) t.get("kv_cache_tokens").number(1, 1e12);
    int maxContext = t.get("max_context_tokens").integer(1, 1 << 24);

    Field d = t.get("decode");
    d.only("context_tokens", "batch", "ms", "power_w");
    double[] batch = d.get("batch").increasing(2, 1, maxBatch);
    if (batch[0] != 1) {
      throw d.get("batch").error("must start at batch 1 (an iteration is never smaller), got " + batch[0]);
    }
    if (batch[batch.length - 1] != maxBatch) {
      throw d.get("batch").error("must end at max_batch (" + maxBatch + "), got " + batch[batch.length - 1]);
    }
    Decode decode = new Decode(d.get("context_tokens").number(1, maxContext), batch,
        d.get("ms").positives(batch.length, "decode.batch"), d.get("power_w").positives(batch.length, "decode.batch"));

    List<ContextPoint> points = new ArrayList<>();
    for (Field p : t.get("decode_context").elements()) {
      p.only("batch", "context_tokens", "ms");
      points.add(new ContextPoint(p.get("batch").number(1, maxBatch), p.get("context_tokens").number(0, maxContext),
          p.get("ms").number(1e-6, 1e7)));
    }

    Field p = t.get("prefill");
    p.only("tokens", "ms", "power_w", "sm_mhz");
    double[] tokens = p.get("tokens").increasing(2, 2, 1 << 24);
    double[] smMhz = p.get("sm_mhz").positives(tokens.length, "prefill.tokens");
    for (int i = 0; i < smMhz.length; i++) {
      if (smMhz[i] < minMhz || smMhz[i] > maxMhz) {
        throw p.get("sm_mhz").error("entry " + i + " is " + smMhz[i] + " MHz, outside clocks " + minMhz + " to "
            + maxMhz);
      }
    }
    Prefill prefill = new Prefill(tokens, p.get("ms").positives(tokens.length, "prefill.tokens"),
        p.get("power_w").positives(tokens.length, "prefill.tokens"), smMhz);

    Field a = t.get("all_reduce");
    a.only("log2_bytes", "ms");
    double[] sizes = a.get("log2_bytes").increasing(2, 0, 64);
    AllReduce allReduce = new AllReduce(sizes, a.get("ms").positives(sizes.length, "all_reduce.log2_bytes"));
    java.util.Optional<String> measuredBy = java.util.Optional.empty();
    if (t.node().has("measured_by")) {
      String by = t.get("measured_by").text();
      if (by.isBlank()) {
        throw t.get("measured_by").error("say how and where the series were measured, or leave the field out");
      }
      measuredBy = java.util.Optional.of(by);
    }
    return new TpSeries(tp, maxBatch, kv, maxContext, decode, points, prefill, allReduce, measuredBy);
  }

  /** A node of the document and its path, for messages that name the field. */
  private record Field(String path, JsonNode node) {

    Field get(String name) {
      String child = path.isEmpty() ? name : path + "." + name;
      JsonNode value = node.get(name);
      if (value == null || value.isNull()) {
        throw new ProfileFormatException(child + ": missing");
      }
      return new Field(child, value);
    }

    /** Fails on a field the format does not define here (a misspelling would silently be ignored). */
    void only(String... names) {
      if (!node.isObject()) {
        throw error("expected an object");
      }
      Set<String> known = Set.of(names);
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String name = it.next();
        if (!known.contains(name)) {
          throw new ProfileFormatException((path.isEmpty() ? name : path + "." + name)
              + ": not a field of the profile format here; known: " + String.join(", ", names));
        }
      }
    }

    List<Field> elements() {
      if (!node.isArray()) {
        throw error("expected an array");
      }
      List<Field> out = new ArrayList<>();
      for (int i = 0; i < node.size(); i++) {
        out.add(new Field(path + "[" + i + "]", node.get(i)));
      }
      return out;
    }

    String text() {
      if (!node.isTextual()) {
        throw error("expected a string");
      }
      return node.asText();
    }

    double number(double min, double max) {
      if (!node.isNumber()) {
        throw error("expected a number, got " + node);
      }
      double v = node.asDouble();
      if (!(v >= min && v <= max)) {
        throw error("must be from " + fmt(min) + " to " + fmt(max) + ", got " + fmt(v));
      }
      return v;
    }

    int integer(int min, int max) {
      double v = number(min, max);
      if (v != Math.rint(v)) {
        throw error("expected a whole number, got " + fmt(v));
      }
      return (int) v;
    }

    /** An array of at least {@code minLength} numbers in [min, max], strictly increasing. */
    double[] increasing(int minLength, double min, double max) {
      double[] v = array();
      if (v.length < minLength) {
        throw error("expected at least " + minLength + " numbers, got " + v.length);
      }
      for (int i = 0; i < v.length; i++) {
        if (!(v[i] >= min && v[i] <= max)) {
          throw error("entry " + i + " must be from " + fmt(min) + " to " + fmt(max) + ", got " + fmt(v[i]));
        }
        if (i > 0 && !(v[i] > v[i - 1])) {
          throw error("must increase strictly; entry " + i + " (" + fmt(v[i]) + ") follows " + fmt(v[i - 1]));
        }
      }
      return v;
    }

    /** An array of exactly {@code length} positive numbers, one per entry of the axis {@code axis}. */
    double[] positives(int length, String axis) {
      double[] v = array();
      if (v.length != length) {
        throw error("expected " + length + " numbers (one per " + axis + "), got " + v.length);
      }
      for (int i = 0; i < v.length; i++) {
        if (!(v[i] > 0) || Double.isInfinite(v[i])) {
          throw error("entry " + i + " must be a positive number, got " + fmt(v[i]));
        }
      }
      return v;
    }

    private double[] array() {
      if (!node.isArray()) {
        throw error("expected an array of numbers");
      }
      double[] v = new double[node.size()];
      for (int i = 0; i < v.length; i++) {
        if (!node.get(i).isNumber()) {
          throw error("entry " + i + " must be a number, got " + node.get(i));
        }
        v[i] = node.get(i).asDouble();
      }
      return v;
    }

    ProfileFormatException error(String problem) {
      return new ProfileFormatException((path.isEmpty() ? "(top level)" : path) + ": " + problem);
    }

    private static String fmt(double v) {
      return v == Math.rint(v) && Math.abs(v) < 1e15 ? Long.toString((long) v) : Double.toString(v);
    }
  }
}
