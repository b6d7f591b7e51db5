/* Approach 3's objective and gradient (fit.py, _HuberLse), one fused pass over the points per row.
 *
 * tinychinchilla/_native.py compiles this file on first use (gcc or clang with glibc's libmvec)
 * and falls back to the numpy/torch objective wherever that fails. For a row x = (e, a, b, alpha,
 * beta) and point j:
 *
 *     u1 = exp(a - alpha ln N_j),  u2 = exp(b - beta ln D_j),  T = u1 + u2 + exp(e),
 *     r  = ln T - ln L_j,           h = clip(r, -delta, delta)       (Huber'(r))
 *     f  = sum_j w_j h (r - h/2)    (the Huber loss: r^2/2 inside, delta(|r| - delta/2) outside)
 *     df/de = sum_j w_j h exp(e)/T, df/da = sum_j w_j h u1/T, df/dalpha = -sum_j w_j h u1/T ln N_j
 *     (and b, beta alike).
 *
 * No max-shift: the caller sends only rows whose exponents stay below 700, so exp cannot
 * overflow. `omp simd` vectorises the loop, exp and log included (glibc's vector versions,
 * at most 4 ulp), with the same order of operations for every row, so a row's result does
 * not depend on the other rows in the batch.
 */
#include <math.h>

#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double log(double);

/* x: (k, 5) rows; log_n, log_d, log_loss: (p,) points; weights: (p,) if weight_stride == 0,
 * else (k, weight_stride) with the row's weights first; f: (k,); grad: (k, 5). */
void huber_lse(long k, long p, const double *x, const double *log_n, const double *log_d,
               const double *log_loss, const double *weights, long weight_stride, double delta,
               double *f, double *grad)
{
    for (long i = 0; i < k; i++) {
        const double e = x[5 * i], a = x[5 * i + 1], b = x[5 * i + 2];
        const double alpha = x[5 * i + 3], beta = x[5 * i + 4];
        const double exp_e = exp(e);
        const double *w = weights + i * weight_stride;
        double fs = 0.0, ge = 0.0, ga = 0.0, gb = 0.0, galpha = 0.0, gbeta = 0.0;
#pragma omp simd reduction(+ : fs, ge, ga, gb, galpha, gbeta)
        for (long j = 0; j < p; j++) {
            const double u1 = exp(a - alpha * log_n[j]);
            const double u2 = exp(b - beta * log_d[j]);
            const double total = u1 + u2 + exp_e;
            const double r = log(total) - log_loss[j];
            const double h = r < -delta ? -delta : (r > delta ? delta : r);
            fs += w[j] * h * (r - 0.5 * h);
            const double q = w[j] * h / total;  /* Huber' times d ln T / d T */
            ge += q * exp_e;
            ga += q * u1;
            gb += q * u2;
            galpha -= q * u1 * log_n[j];
            gbeta -= q * u2 * log_d[j];
        }
        f[i] = fs;
        grad[5 * i] = ge;
        grad[5 * i + 1] = ga;
        grad[5 * i + 2] = gb;
        grad[5 * i + 3] = galpha;
        grad[5 * i + 4] = gbeta;
    }
}
