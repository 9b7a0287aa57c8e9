"""The re-shard plans of reshard_probe.py, checked by hand (no GPU, no torch): python3 -m unittest discover scripts/device"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import reshard_probe as rp  # noqa: E402

M = 8_000  # a model of 8,000 bytes makes the shards easy to read


class PlanTest(unittest.TestCase):
    def test_tp4_to_tp8_keeps_half_of_every_shard_and_sends_the_other_half_to_a_new_gpu(self):
        assignment, copies = rp.plan(4, 8, M)
        self.assertEqual(assignment, [0, 4, 1, 5, 2, 6, 3, 7])
        self.assertEqual(copies, [(0, 4, 1000), (1, 5, 1000), (2, 6, 1000), (3, 7, 1000)])

    def test_tp8_to_tp4_pulls_the_neighbouring_shard(self):
        assignment, copies = rp.plan(8, 4, M)
        self.assertEqual(assignment, [0, 2, 4, 6])
        self.assertEqual(copies, [(1, 0, 1000), (3, 2, 1000), (5, 4, 1000), (7, 6, 1000)])

    def test_tp4_to_tp2_and_back(self):
        self.assertEqual(rp.plan(4, 2, M), ([0, 2], [(1, 0, 2000), (3, 2, 2000)]))
        self.assertEqual(rp.plan(2, 4, M), ([0, 2, 1, 3], [(0, 2, 2000), (1, 3, 2000)]))

    def test_every_new_shard_ends_up_whole(self):
        for a, b in [(4, 8), (8, 4), (4, 2), (2, 4), (2, 8), (8, 2), (1, 8)]:
            assignment, copies = rp.plan(a, b, M)
            self.assertEqual(len(set(assignment)), b)
            for j, g in enumerate(assignment):
                lo, hi = j * M // b, (j + 1) * M // b  # the bytes new shard j covers
                kept = max(0, min(hi, (g + 1) * M // a) - max(lo, g * M // a)) if g < a else 0
                got = sum(c[2] for c in copies if c[1] == g)
                self.assertEqual(kept + got, M // b, f"TP{a}->TP{b}, new shard {j} on GPU {g}")

    def test_the_preset_gives_the_simulators_53_and_96_ms_for_llama2_70b(self):
        self.assertAlmostEqual(rp.preset_ms(rp.plan(4, 8)[1]), 53.1, delta=0.1)
        self.assertAlmostEqual(rp.preset_ms(rp.plan(4, 2)[1]), 96.2, delta=0.1)

    def test_bad_moves_are_refused_with_a_message(self):
        with self.assertRaises(SystemExit) as e:
            rp.parse_moves("4-8")
        self.assertIn("FROM:TO", str(e.exception))
        with self.assertRaises(SystemExit) as e:
            rp.parse_moves("4:4")
        self.assertIn("different", str(e.exception))
        self.assertEqual(rp.parse_moves("4:8,2:4"), [(4, 8), (2, 4)])


if __name__ == "__main__":
    unittest.main()
