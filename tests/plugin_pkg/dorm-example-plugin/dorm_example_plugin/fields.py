"""UpperCaseField: a CharField that stores its value in upper case."""
from dorm.fields import CharField


class UpperCaseField(CharField):
    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return value.upper() if isinstance(value, str) else value

    def pre_save(self, model_instance, add):
        value = getattr(model_instance, self.attname)
        if isinstance(value, str):
            value = value.upper()
            setattr(model_instance, self.attname, value)
        return value
