package io.dynamollm.protocol.profile;

import io.dynamollm.protocol.profile.ProfileDocument.TpSeries;
import io.dynamollm.protocol.profile.ProfileJson.ProfileFormatException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * One profile from several {@code profile build} runs, one per tensor-parallel degree: each degree comes from the file
 * that measured it ({@link TpSeries#measuredBy}), the frequency model from the file that fitted it to a clock sweep
 * (there may be one), the rest (degrees nobody measured, architecture, all-reduce, frequency model where none was
 * swept, request lengths) from the first file. Files of different models or architectures, or two files
 * that measured the same degree, are refused.
 */
public final class ProfileMerge {
  private ProfileMerge() {}

  /** A profile and what to call it in messages (its path). */
  public record Named(String name, ProfileDocument document) {}

  /** The merged profile. */
  public static ProfileDocument merge(List<Named> files) {
    if (files.size() < 2) {
      throw new IllegalArgumentException("merge needs at least two profiles, got " + files.size());
    }
    Named first = files.get(0);
    ProfileDocument base = first.document();
    Map<Integer, TpSeries> series = new TreeMap<>();
    Map<Integer, String> from = new TreeMap<>();
    base.tensorParallel().forEach(s -> series.put(s.tp(), s));
    List<Double> idle = new ArrayList<>();
    ProfileDocument measuredFirst = null;
    Named sweptIn = null;
    for (int i = 0; i < files.size(); i++) {
      Named f = files.get(i);
      ProfileDocument d = f.document();
      if (!d.model().equals(base.model()) || !d.architecture().equals(base.architecture())) {
        throw new ProfileFormatException(f.name() + ": " + d.model() + " is not the model of " + first.name() + " ("
            + base.model() + "), or its architecture differs");
      }
      if (!d.clocks().equals(base.clocks())) {
        throw new ProfileFormatException(f.name() + ": its clocks differ from " + first.name() + "'s");
      }
      boolean measured = false;
      for (TpSeries s : d.tensorParallel()) {
        if (s.measuredBy().isEmpty()) {
          continue;
        }
        String earlier = from.putIfAbsent(s.tp(), f.name());
        if (earlier != null) {
          throw new ProfileFormatException("TP" + s.tp() + " is measured in both " + earlier + " and " + f.name()
              + "; merge one of them");
        }
        series.put(s.tp(), s);
        measured = true;
      }
      if (ProfileBuild.swept(d)) {
        if (sweptIn != null) {
          throw new ProfileFormatException("the frequency model is fitted to a clock sweep in both " + sweptIn.name()
              + " and " + f.name() + "; a profile has one frequency model: sweep the clocks in one run");
        }
        sweptIn = f;
      }
      if (measured) {
        idle.add(d.idlePowerW());
        if (measuredFirst == null) {
          measuredFirst = d;
        }
      }
    }
    if (measuredFirst == null) {
      throw new ProfileFormatException("none of the profiles has a degree measured by profile build (measured_by)");
    }
    double idleW = Math.round(idle.stream().mapToDouble(Double::doubleValue).average().orElseThrow() * 10) / 10.0;
    Map<String, String> provenance = new LinkedHashMap<>(measuredFirst.provenance());
    if (sweptIn != null) {
      ProfileDocument s = sweptIn.document();
      provenance.put("frequency_model", s.provenance().get("frequency_model"));
      base = base.withFrequencyModel(s.frequencyModel(), Optional.empty());
    }
    return ProbeImport.assemble(base, measuredFirst.hardware(), idleW, List.copyOf(series.values()), provenance);
  }
}
