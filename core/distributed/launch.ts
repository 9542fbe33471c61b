/**
 * How many processes the launcher started and which one this is, from the
 * environment the launchers set — Open MPI's mpirun (OMPI_COMM_WORLD_*),
 * MPICH / Intel MPI / SLURM's PMI (PMI_*), PMIx (PMIX_RANK with SLURM's
 * counts) — before anything is initialised: a run that is one of several
 * must join them; a run that is alone never touches MPI.
 */
export interface LaunchInfo {
  /** processes in the job (1: alone) */
  size: number;
  rank: number;
  /** which launcher's variables said so */
  launcher: string;
}

const num = (v: string | undefined) => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);

export function detectLaunch(env: NodeJS.ProcessEnv = process.env): LaunchInfo {
  const sources: [string, string | undefined, string | undefined][] = [
    ["mpirun (Open MPI)", env.OMPI_COMM_WORLD_SIZE, env.OMPI_COMM_WORLD_RANK],
    ["PMI (MPICH, Intel MPI, srun --mpi=pmi2)", env.PMI_SIZE, env.PMI_RANK],
    // srun --mpi=pmix: the rank from PMIx, the count from SLURM (SLURM_NTASKS alone is set in any batch script, launched or not)
    ["srun --mpi=pmix (SLURM)", env.PMIX_RANK !== undefined ? (env.SLURM_STEP_NUM_TASKS ?? env.SLURM_NTASKS) : undefined, env.PMIX_RANK],
  ];
  for (const [launcher, size, rank] of sources) {
    const s = num(size);
    const r = num(rank);
    if (s !== null && r !== null && s >= 1) return { size: s, rank: r, launcher };
  }
  return { size: 1, rank: 0, launcher: "none" };
}
