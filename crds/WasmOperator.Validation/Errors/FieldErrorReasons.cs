namespace WasmOperator.Validation;

/// <summary>The cause types kube-apiserver reports in <c>metav1.StatusCause.reason</c>.</summary>
public static class FieldErrorReasons
{
    /// <summary>A required field is missing.</summary>
    public const string Required = "FieldValueRequired";

    /// <summary>A value is malformed or breaks a rule.</summary>
    public const string Invalid = "FieldValueInvalid";

    /// <summary>A value is not one of the allowed values.</summary>
    public const string NotSupported = "FieldValueNotSupported";

    /// <summary>A string is longer than allowed.</summary>
    public const string TooLong = "FieldValueTooLong";

    /// <summary>A list or map has more entries than allowed.</summary>
    public const string TooMany = "FieldValueTooMany";

    /// <summary>A value appears twice where it must be unique.</summary>
    public const string Duplicate = "FieldValueDuplicate";

    /// <summary>A value is not allowed in this position.</summary>
    public const string Forbidden = "FieldValueForbidden";

    /// <summary>A value has the wrong JSON type.</summary>
    public const string TypeInvalid = "FieldValueTypeInvalid";

    /// <summary>A referenced value does not exist.</summary>
    public const string NotFound = "FieldValueNotFound";

    /// <summary>The validator itself failed.</summary>
    public const string Internal = "InternalError";
}
