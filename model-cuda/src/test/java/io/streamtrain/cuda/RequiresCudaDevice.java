package io.streamtrain.cuda;

import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * Skips each test of a class, with the probe's reason in the report, where there is no usable GPU (CI has none).
 * Used on the compatibility kits' subclasses, whose setup opens the backend before every test.
 */
final class RequiresCudaDevice implements ExecutionCondition {
    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        if (context.getTestMethod().isEmpty()) {
            return ConditionEvaluationResult.enabled("tests decide one by one");
        }
        CudaDevice device = CudaTesting.device();
        return device.available()
                ? ConditionEvaluationResult.enabled("CUDA device: " + device.describe())
                : ConditionEvaluationResult.disabled("skipped: no usable CUDA device: " + device.reason());
    }
}
