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
 * A row whose exponents could pass 700 (exp overflows near 709) is computed with each point's
 * largest exponent m shifted out, T = e^m (e^(t1 - m) + e^(t2 - m) + e^(e - m)) where t1 and t2
 * are the exponents of u1 and u2 (numpy's objective does the same); other rows need no shift. The
 * exponents are linear in ln N and ln D, so a row's largest is at an end of their range.
 * `omp simd` vectorises the loops, exp and log included (glibc's vector versions, at most 4 ulp),
 * with the same order of operations for every row, so a row's result does not depend on the
 * other rows in the batch.
 */
#include <math.h>

#pragma omp declare simd notinbranch
double exp(double);
#pragma omp declare simd notinbranch
double log(double);

static double lowest(long p, const double *v)
{
    double m = v[0];
    for (long j = 1; j < p; j++)
        m = v[j] < m ? v[j] : m;
    return m;
}

static double highest(long p, const double *v)
{
    double m = v[0];
    for (long j = 1; j < p; j++)
        m = v[j] > m ? v[j] : m;
    return m;
}

/* x: (k, 5) rows; log_n, log_d, log_loss: (p,) points; weights: (p,) if weight_stride == 0,
 * else (k, weight_stride) with the row's weights first; f: (k,); grad: (k, 5). */
void huber_lse(long k, long p, const double *x, const double *log_n, const double *log_d,
               const double *log_loss, const double *weights, long weight_stride, double delta,
               double *f, double *grad)
{
    const double n_lo = lowest(p, log_n), n_hi = highest(p, log_n);
    const double d_lo = lowest(p, log_d), d_hi = highest(p, log_d);
    for (long i = 0; i < k; i++) {
        const double e = x[5 * i], a = x[5 * i + 1], b = x[5 * i + 2];
        const double alpha = x[5 * i + 3], beta = x[5 * i + 4];
        const double *w = weights + i * weight_stride;
        double fs = 0.0, ge = 0.0, ga = 0.0, gb = 0.0, galpha = 0.0, gbeta = 0.0;
        const double top1 = a + fmax(-alpha * n_lo, -alpha * n_hi);
        const double top2 = b + fmax(-beta * d_lo, -beta * d_hi);
        if (fmax(fmax(top1, top2), fabs(e)) < 700.0) {
            const double exp_e = exp(e);
#pragma omp simd reduction(+ : fs, ge, ga, gb, galpha, gbeta)
            for (long j = 0; j < p; j++) {
                const double u1 = exp(a - alpha * log_n[j]);
                const double u2 = exp(b - beta * log_d[j]);
                const double total = u1 + u2 + exp_e;
                const double r = log(total) - log_loss[j];
                const double h = r < -delta ? -delta : (r > delta ? delta : r);
                fs += w[j] * h * (r - 0.5 * h);
                const double q = w[j] * h / total; /* Huber' times d ln T / d T */
                ge += q * exp_e;
                ga += q * u1;
                gb += q * u2;
                galpha -= q * u1 * log_n[j];
                gbeta -= q * u2 * log_d[j];
            }
        } else {
            for (long j = 0; j < p; j++) {
                const double t1 = a - alpha * log_n[j], t2 = b - beta * log_d[j];
                const double m = fmax(fmax(t1, t2), e);
                const double u1 = exp(t1 - m), u2 = exp(t2 - m), u3 = exp(e - m);
                const double total = u1 + u2 + u3;
                const double r = m + log(total) - log_loss[j];
                const double h = r < -delta ? -delta : (r > delta ? delta : r);
                fs += w[j] * h * (r - 0.5 * h);
                const double q = w[j] * h / total;
                ge += q * u3;
                ga += q * u1;
                gb += q * u2;
                galpha -= q * u1 * log_n[j];
                gbeta -= q * u2 * log_d[j];
            }
        }
        f[i] = fs;
        grad[5 * i] = ge;
        grad[5 * i + 1] = ga;
        grad[5 * i + 2] = gb;
        grad[5 * i + 3] = galpha;
        grad[5 * i + 4] = gbeta;
    }
}
