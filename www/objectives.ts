// The training panel's objectives and the trainer settings (TrainConfig fields) of each.
export const OBJECTIVES = ['dsm', 'dsm-likelihood', 'dsm-likelihood-is', 'ssm', 'ism', 'ncsn', 'ddpm'];

/** The trainer settings (TrainConfig fields) of an objective in the training panel's list:
 * `dsm-likelihood` is DSM with λ = g², `-is` adds importance-sampled t (as the CLI's
 * `--weighting likelihood --t-sampling importance`). */
export function objectiveSettings(o: string): Record<string, string> {
  switch (o) {
    case 'dsm-likelihood':
      return { objective: 'dsm', weighting: 'likelihood' };
    case 'dsm-likelihood-is':
      return { objective: 'dsm', weighting: 'likelihood', time_sampling: 'importance' };
    default:
      return { objective: o };
  }
}
