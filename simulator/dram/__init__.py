"""The cycle-level DRAM/PIM engine: device timing rules, the numba kernel, its Python reference, the SimPy component."""
